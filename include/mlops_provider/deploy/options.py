"""`deploy.options`: one parser for every target's options.

Each target declares its options as a frozen dataclass deriving from `TargetOptions` (`LocalOptions`,
`KubernetesOptions`, `SageMakerOptions`), in a module that imports no client library, so that loading a model
config can check them. The dataclass's fields are the known options: an unknown key is refused, by
`load_model_config` (naming the file and the key) and again when a target parses its options. `check` of the
dataclass checks the values and converts them to the fields' types; `check_on_load` checks, already when the
config loads, the options whose wrong shape must never reach a target (`env`: a secret reference taken for a
plain value would put the secret's name, or worse, into the manifest).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from mlops_provider.exceptions import DeploymentRefused

SCHEMAS: dict[str, str] = {
    "local": "mlops_provider.deploy.local.options:LocalOptions",
    "kubernetes": "mlops_provider.deploy.kubernetes.options:KubernetesOptions",
    "sagemaker": "mlops_provider.deploy.sagemaker_options:SageMakerOptions",
}

Bad = Callable[[str, str], DeploymentRefused]
"""`bad(key, why)`: the error of one option (`model 'm': deploy.options.<key>: <why>`)."""

Options = TypeVar("Options", bound="TargetOptions")


class TargetOptions:
    """Base of the per-target option dataclasses."""

    target: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()  # options without a default
    required_why: ClassVar[str] = ""  # what the required options are, for the message that misses them

    @classmethod
    def check(cls, values: dict[str, Any], bad: Bad) -> dict[str, Any]:
        """The given options checked and converted, as keyword arguments of the dataclass."""
        return values

    @classmethod
    def check_on_load(cls, values: dict[str, Any], bad: Bad) -> None:
        """Check the options that loading a model config already refuses when malformed (`check` does it again)."""

    @classmethod
    def parse(cls: type[Options], model: str, options: dict[str, Any]) -> Options:
        """The options of `model` (its `deploy.options`), checked: `DeploymentRefused` names the key."""
        def bad(key: str, why: str) -> DeploymentRefused:
            return DeploymentRefused(f"model '{model}': deploy.options.{key}: {why}")

        missing = [key for key in cls.required if not options.get(key)]
        if missing:
            raise DeploymentRefused(f"model '{model}': the {cls.target} target needs deploy.options "
                                    f"{', '.join(missing)} ({cls.required_why})")
        unknown = unknown_option(cls, options)
        if unknown is not None:
            raise bad(*unknown)
        return cls(**cls.check(dict(options), bad))


def option_schema(target: str) -> type[TargetOptions]:
    """The options dataclass of `target` (its module imports no client library)."""
    module, _, name = SCHEMAS[target].partition(":")
    schema: type[TargetOptions] = getattr(importlib.import_module(module), name)
    return schema


def known_options(schema: type[TargetOptions]) -> list[str]:
    return [f.name for f in dataclasses.fields(schema)]  # type: ignore[arg-type]


def unknown_option(schema: type[TargetOptions], options: dict[str, Any]) -> tuple[str, str] | None:
    """(key, why) of the first option `schema` does not know, or None."""
    known = known_options(schema)
    unknown = sorted(set(options) - set(known))
    if not unknown:
        return None
    return unknown[0], f"unknown option for target '{schema.target}' (known: {', '.join(known)})"


class _Problem(DeploymentRefused):
    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"deploy.options.{key}: {why}")
        self.key, self.why = key, why


def option_problem(schema: type[TargetOptions], options: dict[str, Any]) -> tuple[str, str] | None:
    """(key, why) of the first option that loading a model config refuses: unknown to `schema`, or malformed
    where `schema.check_on_load` looks; None when there is none."""
    unknown = unknown_option(schema, options)
    if unknown is not None:
        return unknown
    try:
        schema.check_on_load(dict(options), _Problem)
    except _Problem as problem:
        return problem.key, problem.why
    return None


def parse_options(target: str, model: str, options: dict[str, Any]) -> TargetOptions:
    """The checked options of `model` for `target`."""
    return option_schema(target).parse(model, options)


# -- checks the targets share ---------------------------------------------------------------------------------------

def check_integer(values: dict[str, Any], key: str, bad: Bad, low: int, high: int | None = None, *,
                  none: bool = False) -> None:
    """`key`, when given, an integer of at least `low` (and at most `high`); `none`: null stands for the default."""
    if key not in values or (none and values[key] is None):
        return
    value = values[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        expected = f"an integer of at least {low}" if high is None else f"an integer in {low}..{high}"
        raise bad(key, f"expected {expected}, got {value!r}")


def check_env(values: dict[str, Any], bad: Bad) -> None:
    """`env` of a target that takes plain values only: a mapping of variable names to strings or numbers, both
    turned into strings (a mapping such as `{valueFrom: ...}` is refused, not turned into its text)."""
    if "env" not in values:
        return
    if not isinstance(values["env"], dict):
        raise bad("env", "expected a mapping of variable names to values")
    for name, value in values["env"].items():
        if not isinstance(value, str | int | float):
            raise bad(f"env.{name}", f"expected a plain value (a string or a number), got {value!r}")
    values["env"] = {str(k): str(v) for k, v in values["env"].items()}
