"""The operator's cockpit: the state of every configured model, for the Models page in Airflow's UI (`app`,
`page`) and `mlops models` (`client.models`). `rows` reads MLflow and imports no Airflow."""

from __future__ import annotations
