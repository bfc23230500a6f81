"""Suite files: the shipped suites load; every malformed suite names the file, the entry and the problem."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlops_provider.exceptions import ConfigError
from mlops_provider.validation.suite import build_suite, load_suite, write_suite
from tests.helpers.paths import ROOT

NOT_NULL = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}


@pytest.mark.parametrize("model", ["credit_default", "breast_cancer"])
def test_shipped_suites_load(model: str) -> None:
    suite = load_suite(ROOT / "include" / "expectations" / f"{model}.json")
    assert suite.name == model
    assert len(suite.expectations) > 40


def test_missing_suite_file_says_how_to_make_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=re.escape(f"expectation suite {path} does not exist")) as err:
        load_suite(path)
    assert "mlops validate --init" in str(err.value)


def test_invalid_json_names_the_file_and_position(write_suite_file: Any) -> None:
    path = write_suite_file('{"name": "x", "expectations": [', name="broken.json")
    with pytest.raises(ConfigError, match=re.escape(f"expectation suite {path}: not valid JSON: ")) as err:
        load_suite(path)
    assert "line 1" in str(err.value)


def test_unknown_expectation_type_names_file_entry_and_type(write_suite_file: Any) -> None:
    path = write_suite_file({"name": "x", "expectations": [
        NOT_NULL, {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "age"}}]})
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert str(err.value) == (f"expectation suite {path}: expectation #2 (expect_column_values_to_be_purple): "
                              "unknown expectation type 'expect_column_values_to_be_purple'")


def test_misspelled_kwarg_names_the_key(write_suite_file: Any) -> None:
    path = write_suite_file({"name": "x", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_vale": 18}}]})
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    message = str(err.value)
    assert message.startswith(f"expectation suite {path}: expectation #1 (expect_column_values_to_be_between): "
                              "invalid kwargs: ")
    assert "key 'min_vale': extra fields not permitted" in message


def test_wrong_kwarg_value_names_the_key(write_suite_file: Any) -> None:
    path = write_suite_file({"name": "x", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "mostly": 3}}]})
    with pytest.raises(ConfigError, match=r"expectation #1 \(expect_column_values_to_not_be_null\): "
                                          r"invalid kwargs: key 'mostly': ensure this value is less than or equal"):
        load_suite(path)


def test_missing_column_kwarg_is_reported(write_suite_file: Any) -> None:
    path = write_suite_file({"name": "x", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {}}]})
    with pytest.raises(ConfigError, match=r"key 'column': field required"):
        load_suite(path)


@pytest.mark.parametrize(("raw", "problem"), [
    ([NOT_NULL], "expected a JSON object, got list"),
    ({"name": "x", "expectations": []}, "key 'expectations' must be a non-empty list"),
    ({"name": "x", "expectation": [NOT_NULL]},
     "unknown key(s) ['expectation'] (allowed: ['expectations', 'id', 'meta', 'name', 'notes', 'suite_parameters'])"),
    ({"name": "x", "expectations": ["expect_column_values_to_not_be_null"]},
     "expectation #1: expected an object with 'type' and 'kwargs', got str"),
    ({"name": "x", "expectations": [{"kwargs": {"column": "a"}}]},
     "expectation #1: key 'type' is missing (e.g. \"expect_column_values_to_not_be_null\")"),
    ({"name": "x", "expectations": [{**NOT_NULL, "kwarg": {}}]},
     "expectation #1 (expect_column_values_to_not_be_null): unknown key(s) ['kwarg']"),
])
def test_malformed_structure_is_named(write_suite_file: Any, raw: Any, problem: str) -> None:
    path = write_suite_file(raw)
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert str(err.value) == f"expectation suite {path}: {problem}"


def test_name_defaults_to_the_file_stem(write_suite_file: Any) -> None:
    suite = load_suite(write_suite_file({"expectations": [NOT_NULL]}, name="loans.json"))
    assert suite.name == "loans"


def test_write_suite_refuses_to_overwrite_and_never_writes_a_broken_suite(tmp_path: Path) -> None:
    path = write_suite({"name": "x", "expectations": [NOT_NULL]}, tmp_path / "x.json")
    with pytest.raises(ConfigError, match="already exists"):
        write_suite({"name": "x", "expectations": [NOT_NULL]}, path)
    with pytest.raises(ConfigError, match="unknown expectation type"):
        write_suite({"name": "x", "expectations": [{"type": "expect_nothing", "kwargs": {}}]}, path, force=True)
    assert build_suite({"name": "x", "expectations": [NOT_NULL]}, source="t").name == "x"
    assert load_suite(path).expectations[0].column == "age"
