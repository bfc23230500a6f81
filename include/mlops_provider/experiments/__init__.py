"""A/B experiments to a verdict: the plan stated before the data (`plan`), the statistics (`stats`), the verdict on
the logged and labelled traffic of both arms (`analysis`) and its report (`report`). Plain Python, no Airflow."""
