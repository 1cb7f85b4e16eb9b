"""What templates/_quality_report.html needs from a job's data-quality report
(model/quality.py): the report itself, an upload-vs-training SVG chart per feature and for the
predictions (app/web/charts.py), and the thresholds it was judged by.  Used by the report's
own page and by the job's page (app/web/panel/quality.py, app/web/panel/jobs.py)."""

from __future__ import annotations

from typing import Any

from app.web import charts
from model.quality import THRESHOLDS


def feature_chart(feature: dict[str, Any]) -> Any:
    """The upload-vs-training chart of one feature's report entry (None without a profile)."""
    what = f"{feature['name']}: this file against the training data"
    if "bins" in feature:
        bins = feature["bins"]
        return charts.distribution(charts.bin_labels(bins["edges"]), bins["training"], bins["upload"], what)
    if "categories" in feature:
        cats = feature["categories"]
        return charts.distribution(cats["labels"], cats["training"], cats["upload"], what)
    return None


def report_context(report: dict[str, Any]) -> dict[str, Any]:
    """What templates/_quality_report.html needs: the report plus a chart per feature."""
    predictions = report.get("predictions") or {}
    return {
        "report": report,
        "feature_charts": {f["name"]: feature_chart(f) for f in report["features"]},
        "prediction_chart": feature_chart({"name": "predictions", **predictions}),
        "thresholds": THRESHOLDS,
    }
