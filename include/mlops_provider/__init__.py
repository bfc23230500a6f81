"""airflow-provider-mlops: the ML lifecycle on Apache Airflow 3."""

__version__ = "0.1.0"
