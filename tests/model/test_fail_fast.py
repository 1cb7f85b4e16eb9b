"""Failing fast (issue 23, item 6): a chunk on which the model fails for every row is
recognised in a few model calls, not split down to single rows, and a job in which no row
could be scored raises ModelFailed with the model's message naming the first failing row;
row-status texts are shortened at a word boundary.  Calls are counted on the model itself."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest

from model.artifact import Model
from model.loading import load_model
from model.messages import ELLIPSIS, ERROR_CHARS
from model.predictions import FAIL_FAST_SAMPLE, ModelFailed, prediction
from model.quality import ROW_STATUS_COLUMN
from model.schema import MODEL_FILE, SCHEMA_FILE
from tests.conftest import fast_csv
from tests.support.models import FailingModel, partly_failing_pipeline


def failing(model_dir: Path) -> Model:
    schema = json.loads((model_dir / SCHEMA_FILE).read_text(encoding="utf-8"))
    return Model(FailingModel(joblib.load(model_dir / MODEL_FILE)), schema, model_dir)


def test_a_model_failing_on_every_row_is_found_in_a_few_calls(model_dir: Path, tmp_path: Path) -> None:
    fast_csv(tmp_path / "in.csv", 10_000)
    model = failing(model_dir)
    with pytest.raises(ModelFailed) as caught:
        prediction(tmp_path / "in.csv", tmp_path / "out.xlsx", model=model, chunk_rows=10_000)
    # One call for the chunk, then the sample of single rows: not 19,999 calls (every split).
    assert model.estimator.calls == 1 + FAIL_FAST_SAMPLE
    message = str(caught.value)
    assert message == ("it could not score any of the 10,000 rows it was given; the first, data row 1: "
                       "ValueError: could not convert string to float: 'Adelie'")
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))  # no result left


def test_each_chunk_fails_fast_and_the_first_failing_row_is_named(model_dir: Path, tmp_path: Path) -> None:
    header, _ = fast_csv(tmp_path / "in.csv", 2_500)
    frame = pd.read_csv(tmp_path / "in.csv")
    frame.loc[:1_099, header[1:]] = None  # rows with no data: never given to the model
    frame.to_csv(tmp_path / "in.csv", index=False)
    model = failing(model_dir)
    with pytest.raises(ModelFailed, match=r"any of the 1,400 rows it was given; the first, data row 1,101: "):
        prediction(tmp_path / "in.csv", tmp_path / "out.xlsx", model=model, chunk_rows=1_000)
    assert model.estimator.calls == 2 * (1 + FAIL_FAST_SAMPLE)  # two chunks held rows with data


def test_rows_that_fail_among_rows_that_pass_are_still_found_one_by_one(model_dir: Path, tmp_path: Path) -> None:
    """A real Pipeline whose transformer raises on some rows: the sample finds rows that pass,
    so the chunk is split as before and exactly the refused rows go unscored; their status
    is the model's message shortened at a word boundary."""
    fast_csv(tmp_path / "in.csv", 600)
    model = Model(partly_failing_pipeline(model_dir), load_model(model_dir).schema, model_dir)
    prediction(tmp_path / "in.csv", tmp_path / "out.xlsx", model=model, chunk_rows=600)
    result = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    large = pd.read_csv(tmp_path / "in.csv")["mean radius"] > 20
    assert 0 < large.sum() < len(large)
    assert (result.loc[large, "prediction"] == "").all() and (result.loc[~large, "prediction"] != "").all()
    statuses = result.loc[large, ROW_STATUS_COLUMN].unique()
    [status] = statuses
    assert status.startswith("not scored: the model cannot take this row's values (ValueError: this transformer "
                             "cannot take a first feature over 20, and it says so at length")
    error = status[status.index("(") + 1:-1]
    full = ("ValueError: this transformer cannot take a first feature over 20, "
            + "and it says so at length " * 20).strip()
    assert len(error) <= ERROR_CHARS and error.endswith(ELLIPSIS)
    assert full.startswith(error[:-1]) and full[len(error) - 1] == " "  # cut between whole words
