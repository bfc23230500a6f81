"""`python -m mlops_provider.serving MODEL ...`: the same as `mlops serve` (the local target starts it so)."""

from __future__ import annotations

from mlops_provider.serving.cli import serve_main

raise SystemExit(serve_main())
