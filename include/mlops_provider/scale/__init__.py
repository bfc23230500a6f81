"""Many-model sets for scale runs: `generate.py` writes N model configs, suites and data into one folder."""
