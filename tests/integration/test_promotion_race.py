"""Two promotions of one model at once (as `mlops_training` and `mlops_retraining` can run them), against the real
MLflow server: one at a time, and the one that waited is judged against the champion the other left."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

GATE = {"metric": "roc_auc", "minimum": 0.5, "max_regression": 0.01}


class XComSink:
    """The one TaskInstance method the operator calls outside Airflow: pushing the link URL."""

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_racing_promotions_serialize_and_the_loser_is_judged_against_the_winner(
        mlflow_conn: str, private_model: Any) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.operators.registry import PromoteModelOperator
    from mlops_provider.registry import promotion_lock_name
    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import evaluate
    from tests.helpers.trained_versions import register_versions

    name = private_model("credit_race", gate=GATE)
    old, *candidates = register_versions(name, mlflow_conn, [1, 30, 200])
    client = client_for(mlflow_conn)
    client.set_registered_model_alias(name, "champion", old)
    config = load_model_config(name)
    with tracking_uri(mlflow_conn):  # both evaluated against the same old champion, as two DAG runs would
        evaluations = {v: evaluate(config, client, candidate_uri=f"models:/{name}/{v}") for v in candidates}
    assert {e["champion_version"] for e in evaluations.values()} == {old}
    start = threading.Barrier(len(candidates))

    def promote(version: str) -> dict[str, Any]:
        operator = PromoteModelOperator(task_id="promote", model=name, outlets=[], evaluation=evaluations[version],
                                        registration={"version": version, "model_uri": f"models:/{name}/{version}"})
        start.wait()
        return dict(operator.execute({"run_id": f"manual__race_v{version}", "ti": XComSink()}))

    with ThreadPoolExecutor(len(candidates)) as pool:
        results = dict(zip(candidates, pool.map(promote, candidates), strict=True))

    over_old = [v for v, r in results.items() if r["promoted"] and r["previous_champion"] == old]
    assert len(over_old) == 1, results
    [winner] = over_old
    [loser] = [v for v in candidates if v != winner]
    tags = {v: client.get_model_version(name, v).tags for v in candidates}
    assert tags[winner]["mlops.champion_at_decision"] == old
    assert tags[loser]["mlops.champion_at_decision"] == winner, "the loser must be judged against the winner"
    assert f"champion v{winner} " in results[loser]["reason"], results[loser]
    aliases = client.get_registered_model(name).aliases
    if results[loser]["promoted"]:
        assert results[loser]["previous_champion"] == winner
        assert float(tags[loser]["mlops.score.candidate"]) >= (
            float(tags[loser]["mlops.score.champion"]) - GATE["max_regression"])
        assert (aliases["champion"], aliases["previous_champion"]) == (loser, winner)
    else:
        assert results[loser]["previous_champion"] == winner and tags[loser]["mlops.decision"] == "rejected"
        assert (aliases["champion"], aliases["previous_champion"]) == (winner, old)
    assert not client.search_registered_models(f"name = '{promotion_lock_name(name)}'"), "the lock is released"


def test_the_promotion_lock_waits_for_its_holder_and_breaks_a_dead_holders_lock(mlflow_conn: str) -> None:
    from mlops_provider.exceptions import RegistryError
    from mlops_provider.registry import LOCK_OWNER_TAG, promotion_lock, promotion_lock_name

    client = client_for(mlflow_conn)
    with promotion_lock(client, "lock_toy", owner="training/run1/promote"):
        with pytest.raises(RegistryError) as waited, promotion_lock(
                client, "lock_toy", owner="retraining/run2/promote", wait_seconds=1, poll_seconds=0.2):
            pass
        assert "model 'lock_toy': another promotion (training/run1/promote) has held the promotion lock" in str(
            waited.value)
        with promotion_lock(client, "lock_toy", owner="training/run1/promote", wait_seconds=0):
            pass  # the same owner (a retry of the try that died holding it) takes it over
    assert not client.search_registered_models(f"name = '{promotion_lock_name('lock_toy')}'")

    with promotion_lock(client, "lock_dead", owner="killed/worker", lease_seconds=0.5):
        time.sleep(1)  # the holder outlives its lease, as a killed worker would
        with promotion_lock(client, "lock_dead", owner="next/promotion", wait_seconds=5, poll_seconds=0.1):
            held = client.get_registered_model(promotion_lock_name("lock_dead")).tags[LOCK_OWNER_TAG]
            assert held == "next/promotion"
        # the late holder's release must not delete a lock someone else holds: here nobody does any more
    assert not client.search_registered_models(f"name = '{promotion_lock_name('lock_dead')}'")
