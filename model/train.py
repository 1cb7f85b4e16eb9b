"""Train the default model: `python -m model.train [--out DIR]`.

A scikit-learn Pipeline (median imputation, scaling, logistic regression) on the breast cancer
Wisconsin data set that ships with scikit-learn. Fixed seed, so the same model every time
(schema.json differs only in its created_at).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from model.artifact import DEFAULT_MODEL_DIR, build_schema, save_model

SEED = 42
VERSION = "breast-cancer-logreg-1"


def train(out_dir: Path = DEFAULT_MODEL_DIR) -> dict:
    data = load_breast_cancer(as_frame=True)
    X = data.data
    # Train on the label names so the model predicts "malignant" / "benign" directly.
    y = data.target.map(dict(enumerate(data.target_names))).astype(object)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=y)
    pipeline = Pipeline(
        [
            # Empty cells in an upload are allowed: they are imputed with the training median.
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(max_iter=2000, random_state=SEED)),
        ]
    )
    pipeline.fit(X_train, y_train)
    accuracy = float(pipeline.score(X_test, y_test))
    schema = build_schema(
        pipeline,
        X_train,
        VERSION,
        target="diagnosis",
        description="Logistic regression on the breast cancer Wisconsin (diagnostic) data set",
        metrics={"test_accuracy": round(accuracy, 4), "test_rows": len(X_test), "seed": SEED},
    )
    save_model(pipeline, schema, out_dir)
    return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="model directory to write")
    args = parser.parse_args(argv)
    schema = train(args.out)
    print(f"trained {schema['version']}: test accuracy {schema['metrics']['test_accuracy']:.3f}, saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
