# The project's Airflow image: every Airflow component and the model server of docker-compose.yaml run it.
# Airflow and Python match requirements.txt and the Makefile; the provider is installed editable from include/,
# so `mlops_provider` imports from /opt/airflow/include, the same layout as a checkout.
FROM apache/airflow:3.3.2-python3.11

ARG AIRFLOW_VERSION=3.3.2

# dependencies first: this layer is rebuilt only when requirements.txt changes
COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt

# the provider package (pyproject.toml maps it from include/)
WORKDIR /opt/airflow
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN pip install --no-cache-dir --no-deps -e . && rm -rf include/*.egg-info

# the project: DAGs, the UI plugin, the settings the airflow-init service applies
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 airflow_settings.yaml /opt/airflow/airflow_settings.yaml

# mount points of the compose volumes, owned by airflow so new named volumes are too
RUN mkdir -p /opt/airflow/data /opt/airflow/auth && chmod 0700 /opt/airflow/auth
