"""Retirement and archive of registered models: which versions an archive rule selects (`rules`), archiving them
(`archive`: tags, serving objects removed through `serving`), the dated retirement plan (`plan`: states, the
check that no phase is in the past), the phases' actions (`phases`), their JSON history (`records`) and one day's
run of all of it (`run`). Plain Python and MLflow; no Airflow import."""
