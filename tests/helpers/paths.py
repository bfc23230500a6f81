"""The repository's root, for tests that read its files (DAGs, model configs, suites, the compose stack)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
