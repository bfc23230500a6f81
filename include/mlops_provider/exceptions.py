"""One exception hierarchy for the provider; every message names the model, file, column or parameter."""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MlopsError):
    """A model config (include/models/<model>.yaml) is missing, malformed or inconsistent."""


class DataError(MlopsError):
    """A data file is missing, unreadable, empty, or lacks a required column."""


class ValidationFailed(MlopsError):
    """A batch failed its Great Expectations suite. Not worth a retry: the data will not change."""

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class TrainingError(MlopsError):
    """The configured trainer raised or returned something that is not a model."""


class RunnerError(MlopsError):
    """A training pod or SageMaker job failed, never started or cannot be read back; a retry may fix it."""


class EvaluationError(MlopsError):
    """A model could not be scored on the holdout (one class only, missing columns, bad metric)."""


class RegistryError(MlopsError):
    """The MLflow registry is unreachable or refused an operation."""


class DriftError(MlopsError):
    """Drift could not be computed (missing column, empty window, incompatible profile)."""


class UntrustedModel(MlopsError):
    """A registered model would run code when loaded (pickle, or skops types outside the trusted list)."""


class DeploymentError(MlopsError):
    """A deployment failed; the previous version is still serving."""


class DeploymentRefused(DeploymentError):
    """A deployment refused before anything changed (unknown strategy or version, bad options). Not worth a retry."""


class LifecycleRefused(ConfigError):
    """An archive or retirement step refused before anything changed: a rule that would archive the champion or
    previous_champion, a retirement plan with a phase in the past or a replacement that is not configured."""
