"""Validate a DataFrame against a Great Expectations 1.x suite in an ephemeral context; readable report.

Plain pandas and Great Expectations: no Airflow, no MLflow. `validate_frame` is what the operator and
`mlops validate` call; Data Docs are rendered on request into a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_provider.validation.messages import describe_failures

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

ResultFormat = Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"]

# BASIC is the cheapest format that still carries what the failure phrases quote (unexpected counts,
# shares and the first 20 unexpected values). SUMMARY only adds per-value counts and row indexes and
# costs ~50% more on 1M rows; BOOLEAN_ONLY is ~40% cheaper but says nothing. See bench/validation.py.
DEFAULT_RESULT_FORMAT: ResultFormat = "BASIC"
MAX_PHRASES = 8


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of one validation: counts, readable failure phrases and GE's full JSON result."""

    model: str
    suite: str
    success: bool
    evaluated: int
    failed: int
    failures: list[str]
    result: dict[str, Any] = field(repr=False)
    data_docs: Path | None = None

    @property
    def message(self) -> str:
        """One line: `model 'x': 3 of 14 expectations failed: column 'income' 14% null (max 5%); ...`."""
        if self.success:
            return f"model '{self.model}': all {self.evaluated} expectations of suite '{self.suite}' passed"
        shown = self.failures[:MAX_PHRASES]
        more = f"; and {len(self.failures) - MAX_PHRASES} more" if len(self.failures) > MAX_PHRASES else ""
        return (f"model '{self.model}': {self.failed} of {self.evaluated} expectations failed: "
                f"{'; '.join(shown)}{more}")

    @property
    def summary(self) -> dict[str, Any]:
        """Small and JSON-able: fit for XCom and for the log."""
        return {"model": self.model, "suite": self.suite, "success": self.success, "evaluated": self.evaluated,
                "failed": self.failed, "failures": list(self.failures)}


def validate_frame(frame: pd.DataFrame, suite: gx.ExpectationSuite, *, model: str,
                   result_format: ResultFormat = DEFAULT_RESULT_FORMAT,
                   data_docs_dir: str | Path | None = None) -> ValidationReport:
    """Run `suite` on `frame`. With `data_docs_dir`, also render GE's Data Docs page for the result there
    (`report.data_docs` is its path). Failed expectations are reported, never raised."""
    from mlops_provider.validation._gx import import_gx

    gx = import_gx()
    frame = plain_dtypes(frame)
    context = _context()
    batch = (context.data_sources.add_pandas("mlops").add_dataframe_asset(model)
             .add_batch_definition_whole_dataframe("batch"))
    own_suite = context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=_copies(suite),
                                                       meta=dict(suite.meta or {})))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{model}-validation", data=batch, suite=own_suite))
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    result = outcome.to_json_dict()
    stats = result.get("statistics") or {}
    docs = _build_data_docs(context, Path(data_docs_dir)) if data_docs_dir is not None else None
    return ValidationReport(
        model=model,
        suite=suite.name,
        success=bool(result.get("success")),
        evaluated=int(stats.get("evaluated_expectations", len(suite.expectations))),
        failed=int(stats.get("unsuccessful_expectations", 0)),
        failures=describe_failures(result.get("results") or [], frame),
        result=result,
        data_docs=docs,
    )


def plain_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Pandas categoricals and extension strings as object columns: GE's type checks do not recognise
    them (a `category` column fails `type_list: ["str"]` although every value is a string)."""
    import pandas as pd

    convert = [c for c, t in frame.dtypes.items()
               if isinstance(t, pd.CategoricalDtype | pd.StringDtype)]
    if not convert:
        return frame
    return frame.astype({c: object for c in convert})


def _context() -> Any:
    from mlops_provider.validation._gx import import_gx

    gx = import_gx()  # before any great_expectations submodule
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),  # we add our own
        progress_bars=ProgressBarsConfig(globally=False),  # tqdm bars flood task logs
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _copies(suite: gx.ExpectationSuite) -> list[Any]:
    """Fresh expectation objects: a suite object may be validated many times, each in its own context,
    and GE binds expectations to the context's store when a suite is added."""
    return [expectation.configuration.to_domain_obj() for expectation in suite.expectations]


def _build_data_docs(context: Any, folder: Path) -> Path:
    """Render GE's Data Docs site into `folder`; the validation page, made self-contained (GE's loads its
    styles and scripts from CDNs), is what we return."""
    from mlops_provider.validation.data_docs import self_contained

    folder.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site("mlops", {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    context.build_data_docs(site_names=["mlops"])
    pages = sorted((folder / "validations").rglob("*.html"))
    if not pages:
        raise RuntimeError(f"Great Expectations built no validation page under {folder}")
    page = pages[-1]
    page.write_text(self_contained(page.read_text(encoding="utf-8")), encoding="utf-8")
    return page
