"""Our model directories in both formats: model.joblib (the default) and model.skops, which
loads only scikit-learn, NumPy, SciPy and builtins classes; and the cache keyed by mtimes."""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model.artifact import save_model
from model.loading import load_model
from model.predictions import prediction
from model.schema import MODEL_FILE, SCHEMA_FILE, SKOPS_FILE, ModelError
from tests.conftest import breast_cancer_frame


def schema_of(model_dir: Path, **changes: object) -> dict:
    return {**json.loads((model_dir / SCHEMA_FILE).read_text(encoding="utf-8")), **changes}


def skops_copy(model_dir: Path, target: Path) -> Path:
    return save_model(load_model(model_dir).estimator, schema_of(model_dir), target, format="skops")


def test_a_skops_copy_predicts_like_the_joblib_one(tmp_path: Path, model_dir: Path) -> None:
    directory = skops_copy(model_dir, tmp_path / "skops")
    assert sorted(p.name for p in directory.iterdir()) == [SKOPS_FILE, SCHEMA_FILE]
    model = load_model(directory)
    assert model.version == load_model(model_dir).version and model.is_classifier
    source = tmp_path / "patients.csv"
    breast_cancer_frame(400, seed=2).to_csv(source, index=False)
    a = prediction(source, tmp_path / "joblib.xlsx", model_dir=model_dir)
    b = prediction(source, tmp_path / "skops.xlsx", model_dir=directory)
    assert b.with_suffix(".csv").read_bytes() == a.with_suffix(".csv").read_bytes()


def test_the_default_model_stays_joblib(tmp_path: Path) -> None:
    from model.train import train

    train(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [MODEL_FILE, SCHEMA_FILE]


def test_saving_in_one_format_removes_the_other(tmp_path: Path, model_dir: Path) -> None:
    """Otherwise model.skops, which wins, would hide a newer model.joblib (or stay behind)."""
    directory = shutil.copytree(model_dir, tmp_path / "m")
    estimator = load_model(model_dir).estimator
    save_model(estimator, schema_of(model_dir, version="as-skops"), directory, format="skops")
    assert not (directory / MODEL_FILE).exists() and load_model(directory).version == "as-skops"
    save_model(estimator, schema_of(model_dir, version="as-joblib"), directory)
    assert not (directory / SKOPS_FILE).exists() and load_model(directory).version == "as-joblib"


def test_an_unknown_format_is_refused(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ModelError, match="Unknown model format 'pickle'; the formats are joblib, skops"):
        save_model(object(), schema_of(model_dir), tmp_path / "m", format="pickle")


class Shout(StandardScaler):
    """A class of this test suite: a skops file holding it would make load_model import our
    code on the word of the file."""


def fitted(*steps: object) -> object:
    X = breast_cancer_frame(60)[["mean radius", "mean texture"]].to_numpy()
    return make_pipeline(*steps, LogisticRegression()).fit(X, X[:, 0] > 14)


def test_a_skops_file_with_a_custom_class_is_refused_with_its_name(tmp_path: Path, model_dir: Path) -> None:
    directory = skops_copy(model_dir, tmp_path / "m")
    skops.io.dump(fitted(Shout()), directory / SKOPS_FILE)  # as someone else's tool would write it
    assert skops.io.get_untrusted_types(file=directory / SKOPS_FILE) == [f"{__name__}.Shout"]
    with pytest.raises(ModelError, match=rf"{SKOPS_FILE} holds types Beyond does not trust: {__name__}\.Shout\."):
        load_model(directory)


@pytest.mark.parametrize(("step", "name"), [
    (FunctionTransformer(builtins.eval), "builtins.eval"),  # a builtin, but a function
    (FunctionTransformer(np.nan_to_num), "numpy.nan_to_num"),
    (Shout(), f"{__name__}.Shout"),
])
def test_save_refuses_what_load_would_refuse(tmp_path: Path, model_dir: Path, step: object, name: str) -> None:
    target = tmp_path / "m"
    with pytest.raises(ModelError, match="holds types Beyond does not trust: " + re.escape(name) + r"\."):
        save_model(make_pipeline(step, LogisticRegression()), schema_of(model_dir), target, format="skops")
    assert list(target.iterdir()) == []


def test_classes_of_the_trusted_packages_load(tmp_path: Path, model_dir: Path) -> None:
    """numpy.dtype (SimpleImputer) and sklearn.tree._tree.Tree are left untrusted by skops
    itself; they are NumPy's and scikit-learn's classes, so they load."""
    X = breast_cancer_frame(80)[load_model(model_dir).features]
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X["mean radius"] > 14)
    directory = save_model(forest, schema_of(model_dir, version="forest-1"), tmp_path / "forest", format="skops")
    assert skops.io.get_untrusted_types(file=directory / SKOPS_FILE) == ["sklearn.tree._tree.Tree"]
    labels, _ = load_model(directory).predict(X)
    assert list(labels) == list(forest.predict(X))
    assert "numpy.dtype" in skops.io.get_untrusted_types(file=skops_copy(model_dir, tmp_path / "bc") / SKOPS_FILE)


def test_a_file_that_is_not_skops_is_refused(tmp_path: Path, model_dir: Path) -> None:
    directory = skops_copy(model_dir, tmp_path / "m")
    (directory / SKOPS_FILE).write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match="is not a readable skops file"):
        load_model(directory)


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_the_cache_follows_the_files(tmp_path: Path, model_dir: Path, fmt: str) -> None:
    directory = save_model(load_model(model_dir).estimator, schema_of(model_dir), tmp_path / "m", format=fmt)
    first = load_model(directory)
    assert load_model(directory) is first
    for name in ({"joblib": MODEL_FILE, "skops": SKOPS_FILE}[fmt], SCHEMA_FILE):
        stamp = (directory / name).stat().st_mtime + 5
        os.utime(directory / name, (stamp, stamp))
        again = load_model(directory)
        assert again is not first and load_model(directory) is again
        first = again
