#!/bin/sh
# One-shot job of the compose stack (service `minio-init`, image minio/mc): the MLflow artifacts bucket, private,
# and an S3 user for MLflow whose policy allows that bucket only (MLflow never holds the MinIO root credentials).
# Idempotent: safe to run on every `docker compose up`.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MLFLOW_ARTIFACTS_BUCKET:?}"
: "${MLFLOW_S3_ACCESS_KEY:?}" "${MLFLOW_S3_SECRET_KEY:?}"

mc alias set stack http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "stack/$MLFLOW_ARTIFACTS_BUCKET"
mc anonymous set none "stack/$MLFLOW_ARTIFACTS_BUCKET"

# shell builtins only: the mc image is minimal
policy="${TMPDIR:-/tmp}/mlflow-artifacts-policy.json"
bucket_arn="arn:aws:s3:::$MLFLOW_ARTIFACTS_BUCKET"
printf '%s\n' '{"Version": "2012-10-17", "Statement": [' \
  "{\"Effect\": \"Allow\", \"Action\": [\"s3:GetBucketLocation\", \"s3:ListBucket\", \"s3:ListBucketMultipartUploads\"], \"Resource\": [\"$bucket_arn\"]}," \
  "{\"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\", \"s3:PutObject\", \"s3:DeleteObject\", \"s3:AbortMultipartUpload\", \"s3:ListMultipartUploadParts\"], \"Resource\": [\"$bucket_arn/*\"]}" \
  ']}' > "$policy"
mc admin policy create stack mlflow-artifacts "$policy"
mc admin user add stack "$MLFLOW_S3_ACCESS_KEY" "$MLFLOW_S3_SECRET_KEY"
# attaching an already attached policy is reported as an error: accept exactly that case
if ! out="$(mc admin policy attach stack mlflow-artifacts --user "$MLFLOW_S3_ACCESS_KEY" 2>&1)"; then
  case "$out" in
    *lready*) ;;
    *) echo "$out" >&2; exit 1 ;;
  esac
fi
echo "bucket $MLFLOW_ARTIFACTS_BUCKET ready; S3 user $MLFLOW_S3_ACCESS_KEY limited to it"
