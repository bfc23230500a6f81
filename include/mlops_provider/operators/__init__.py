"""Operators: thin Airflow adapters over the package's domain modules."""
