"""Put a DAG defined inside a test into the Airflow metadata DB, so `dag.test()` can run it."""

from __future__ import annotations

from typing import Any

from tests.helpers.paths import ROOT


def write_to_db(dag: Any) -> None:
    """Serialize `dag` into the metadata DB as the DAG processor would for a DAG file (`dag.test()` in Airflow 3
    runs what the DB holds, and only syncs the configured bundles itself)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()  # the DAG row refers to its bundle's row
    bag = DagBag(dag_folder=str(ROOT / "tests"), collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
