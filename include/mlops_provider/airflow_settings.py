"""Apply an Astro-CLI style `airflow_settings.yaml` (connections, variables, pools) to an Airflow metadata DB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlops_provider.exceptions import ConfigError

CONNECTION_FIELDS = {"conn_id", "conn_type", "conn_host", "conn_schema", "conn_login", "conn_password",
                     "conn_port", "conn_extra", "conn_description"}


def load_settings(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read and check the file: `airflow: {connections: [...], variables: [...], pools: [...]}`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    section = raw.get("airflow") if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a top-level key 'airflow' holding connections, variables, pools")
    unknown = set(section) - {"connections", "variables", "pools"}
    if unknown:
        raise ConfigError(f"{path}: key 'airflow': unknown key(s) {sorted(unknown)}")
    settings = {key: list(section.get(key) or []) for key in ("connections", "variables", "pools")}
    for index, conn in enumerate(settings["connections"]):
        where = f"{path}: key 'airflow.connections[{index}]'"
        if not isinstance(conn, dict) or not conn.get("conn_id") or not conn.get("conn_type"):
            raise ConfigError(f"{where}: needs conn_id and conn_type")
        extra = set(conn) - CONNECTION_FIELDS
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
    for index, var in enumerate(settings["variables"]):
        if not isinstance(var, dict) or "variable_name" not in var or "variable_value" not in var:
            raise ConfigError(f"{path}: key 'airflow.variables[{index}]': needs variable_name and variable_value")
    for index, pool in enumerate(settings["pools"]):
        if not isinstance(pool, dict) or not pool.get("pool_name") or not isinstance(pool.get("pool_slot"), int):
            raise ConfigError(f"{path}: key 'airflow.pools[{index}]': needs pool_name and an integer pool_slot")
    return settings


def apply_settings(path: str | Path, *, overrides: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Create or update every connection, variable and pool; returns one line per item applied.

    `overrides` maps a conn_id to fields replacing the file's (the demo points `mlflow_default` at
    the port it started MLflow on).
    """
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    settings = load_settings(path)
    done = []
    with create_session() as session:
        for item in settings["connections"]:
            item = {**item, **(overrides or {}).get(item["conn_id"], {})}
            extra = item.get("conn_extra")
            fields = {
                "conn_type": item["conn_type"], "host": item.get("conn_host"), "schema": item.get("conn_schema"),
                "login": item.get("conn_login"), "password": item.get("conn_password"),
                "port": item.get("conn_port"), "description": item.get("conn_description"),
                "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
            }
            conn = session.scalar(select(Connection).where(Connection.conn_id == item["conn_id"]))
            if conn is None:
                session.add(Connection(conn_id=item["conn_id"], **fields))
            else:
                for key, value in fields.items():
                    setattr(conn, key, value)
            done.append(f"connection {item['conn_id']} ({item['conn_type']})")
        session.flush()
        for var in settings["variables"]:
            value = var["variable_value"]
            Variable.set(var["variable_name"], value if isinstance(value, str) else json.dumps(value),
                         session=session)
            done.append(f"variable {var['variable_name']}")
        for pool in settings["pools"]:
            Pool.create_or_update_pool(pool["pool_name"], slots=pool["pool_slot"],
                                       description=pool.get("pool_description", ""), include_deferred=False,
                                       session=session)
            done.append(f"pool {pool['pool_name']} ({pool['pool_slot']} slots)")
    return done
