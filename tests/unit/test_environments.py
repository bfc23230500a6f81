"""`deploy.environments`: the config errors (naming the key), and `environments()` / `production()` of both forms."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.environments import before_production, environment, environments, production
from mlops_provider.exceptions import ConfigError


def config(**deploy: Any) -> ModelConfig:
    raw = {"name": "churn", "target": "label", "features": {"numeric": ["x"]}, "data": {"train": "t.parquet"},
           "gate": {"minimum": 0.5}, "deploy": deploy}
    return parse_model_config(raw, "churn.yaml")


def refused(**deploy: Any) -> str:
    with pytest.raises(ConfigError) as err:
        config(**deploy)
    return str(err.value)


def test_the_single_form_is_one_production_environment_recorded_as_serving_target() -> None:
    found = environments(config(target="local", strategy="canary", canary_steps=[25, 100],
                                options={"smoke_rows": 5}))

    assert len(found) == 1
    only = found[0]
    assert (only.name, only.key, only.alias, only.target, only.strategy) == (
        "production", "local", "serving_local", "local", "canary")
    assert only.canary_steps == [25, 100] and only.options == {"smoke_rows": 5}
    assert only.production and only.single and only.suffix == "" and only.label == "local"
    assert before_production(only.config) == []


def test_environments_inherit_the_top_level_deploy_values_key_by_key() -> None:
    model = config(target="local", strategy="blue_green", options={"latency_budget_ms": 800, "smoke_rows": 5},
                   environments=[{"name": "staging", "options": {"smoke_rows": 3, "port": 9100}},
                                 {"name": "production", "strategy": "canary", "canary_steps": [50, 100]}])

    staging, prod = environments(model)
    assert (staging.name, staging.alias, staging.strategy, staging.production) == (
        "staging", "serving_staging", "blue_green", False)
    assert staging.options == {"latency_budget_ms": 800, "smoke_rows": 3, "port": 9100}
    assert staging.suffix == "-staging" and staging.label == "staging (local)"
    assert (prod.name, prod.alias, prod.strategy, prod.canary_steps) == (
        "production", "serving_production", "canary", [50, 100])
    assert prod.options == {"latency_budget_ms": 800, "smoke_rows": 5} and prod.suffix == ""
    assert production(model) == prod and before_production(model) == [staging]
    assert environment(model, "staging") == staging
    # the view a target reads: the environment's own deploy values, the rest of the config unchanged
    assert staging.config.deploy.options["port"] == 9100 and prod.config.deploy.strategy == "canary"
    assert staging.config.name == "churn" and staging.config.gate == model.gate


def test_an_environment_on_another_target_does_not_inherit_the_top_level_options() -> None:
    model = config(target="local", options={"smoke_rows": 3},
                   environments=[{"name": "staging"},
                                 {"name": "prod", "target": "kubernetes", "options": {"namespace": "prod"}}])

    staging, prod = environments(model)
    assert staging.options == {"smoke_rows": 3}
    assert (prod.target, prod.options, prod.alias) == ("kubernetes", {"namespace": "prod"}, "serving_prod")


def test_an_unknown_environment_is_named_with_the_known_ones() -> None:
    model = config(environments=[{"name": "staging"}, {"name": "production"}])

    with pytest.raises(ConfigError, match="no deployment environment 'qa' \\(its environments: staging, production"):
        environment(model, "qa")


@pytest.mark.parametrize(("deploy", "message"), [
    ({"environments": [{"name": "Staging"}]},
     "key 'deploy.environments.0.name': 'Staging' is not an environment name"),
    ({"environments": [{"name": "pre_prod"}]}, "key 'deploy.environments.0.name': 'pre_prod' is not"),
    ({"environments": [{"name": "staging"}, {"name": "staging"}]},
     "key 'deploy.environments.1.name': 'staging' is already environment 0; names are unique"),
    ({"environments": [{"name": "production"}, {"name": "canary"}]},
     "key 'deploy.environments.0.name': 'production' can only name the last environment"),
    ({"environments": [{"target": "local"}]}, "key 'deploy.environments.0.name': Field required"),
    ({"environments": [{"name": "staging", "region": "eu"}]}, "key 'deploy.environments.0.region': unknown key"),
    ({"environments": [{"name": "staging", "canary_steps": [50, 90]}]},
     "key 'deploy.environments.0.canary_steps': canary steps must rise and end at 100"),
    ({"environments": [{"name": "staging", "strategy": "shadow"}]}, "key 'deploy.environments.0.strategy'"),
    ({"environments": [{"name": "staging"}, {"name": "production", "options": {"replicas": 3}}]},
     "key 'deploy.environments.1.options.replicas': unknown option for target 'local'"),
    ({"environments": [{"name": "staging", "options": {"port": 9000}}, {"name": "production", "options": {
        "admin_port": 9000}}]},
     "key 'deploy.environments.1.options.admin_port': environments 'staging' and 'production' would both use port "
     "9000"),
    ({"target": "kubernetes", "environments": [{"name": "staging"}, {"name": "production"}]},
     "key 'deploy.environments.1.options.namespace': environments 'staging' and 'production' would both use the "
     "connection's namespace; give each its own namespace"),
    ({"target": "kubernetes", "options": {"namespace": "ml"},
      "environments": [{"name": "staging"}, {"name": "production"}]},
     "would both use namespace 'ml'"),
    ({"target": "sagemaker", "options": {"image": "i", "execution_role_arn": "r", "s3_prefix": "s3://b/p",
                                         "endpoint_name": "churn"},
      "environments": [{"name": "staging"}, {"name": "production"}]},
     "key 'deploy.environments.1.options.endpoint_name': environments 'staging' and 'production' would both use "
     "endpoint 'churn'"),
])
def test_bad_environments_are_refused_naming_the_key(deploy: dict[str, Any], message: str) -> None:
    assert message in refused(**deploy)


def test_environments_that_keep_apart_are_accepted() -> None:
    kubernetes = config(target="kubernetes", environments=[{"name": "staging", "options": {"namespace": "staging"}},
                                                          {"name": "production", "options": {"namespace": "ml"}}])
    sagemaker = config(target="sagemaker", options={"image": "i", "execution_role_arn": "r", "s3_prefix": "s3://b/p"},
                       environments=[{"name": "staging"}, {"name": "production"}])

    assert [env.options["namespace"] for env in environments(kubernetes)] == ["staging", "ml"]
    assert [env.suffix for env in environments(sagemaker)] == ["-staging", ""]


def test_a_sagemaker_environment_before_production_gets_its_own_endpoint_config_and_model_names() -> None:
    from mlops_provider.deploy.sagemaker import names, version_of_config
    from mlops_provider.deploy.sagemaker_options import SageMakerOptions

    model = config(target="sagemaker", options={"image": "i", "execution_role_arn": "r", "s3_prefix": "s3://b/p"},
                   environments=[{"name": "staging"}, {"name": "production"}])
    staging, prod = environments(model)
    options = SageMakerOptions.parse("churn", staging.options)

    ours, theirs = names("churn", "3", options, staging.suffix), names("churn", "3", options, prod.suffix)

    assert (ours.endpoint, theirs.endpoint) == ("mlops-churn-staging", "mlops-churn")  # production: as before
    assert ours.endpoint_config != theirs.endpoint_config and ours.model != theirs.model
    assert version_of_config(ours.endpoint_config) == version_of_config(theirs.endpoint_config) == "3"
    assert ours.model_data == theirs.model_data  # one packaged artifact per version serves both
    target = staging.deployment_target(region_name="eu-west-1")
    assert (target.place, target.suffix, target.environment) == ("staging", "-staging", staging)
