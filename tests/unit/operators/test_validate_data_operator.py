"""ValidateDataOperator arguments (its behaviour against real MLflow: tests/integration/test_validation_operator.py)."""

from __future__ import annotations

import pytest

from mlops_provider.operators.validation import ValidateDataOperator


def test_stores_data_and_result_format_and_templates_model_and_data() -> None:
    operator = ValidateDataOperator(task_id="validate", model="toy", data="s3://bucket/batch.parquet",
                                    result_format="SUMMARY")

    assert (operator.model, operator.data, operator.result_format) == ("toy", "s3://bucket/batch.parquet", "SUMMARY")
    assert operator.template_fields == ("model", "data")
    assert [link.name for link in operator.operator_extra_links] == ["Data Docs"]
    default = ValidateDataOperator(task_id="v", model="toy")
    assert (default.data, default.result_format) == (None, "BASIC")


def test_an_unknown_result_format_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="result_format must be BASIC, SUMMARY or COMPLETE, got 'FULL'"):
        ValidateDataOperator(task_id="validate", model="toy", result_format="FULL")  # type: ignore[arg-type]
