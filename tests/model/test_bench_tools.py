"""The bench's own helpers (issue 15): RESULTS.md keeps its hand-written sections when the
bench writes it, a result's rows are counted on the prediction sheets only, the worker's log
events are read back, the worker's step is what bench.ours runs. No timing here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.__main__ import GENERATED, merge_results
from bench.data import head_csv
from bench.ours import data_rows, worker_step_rows
from bench.service import check_output, xlsx_data_rows
from bench.worker_job import cached_models, log_events, worker_job
from model.predictions import prediction
from scheduler.worker import step_rows
from tests.conftest import breast_cancer_frame

OLD = """# Benchmark results (issue 6)

Produced by an old run.

## Machine

- CPU: old

## API request rate

| old | table |

## Typed inputs (issue 10)

Measured by hand: keep me.

## Row status (issue 11)

Also by hand.
"""


def test_a_full_write_replaces_the_generated_sections_and_keeps_the_hand_written_ones() -> None:
    report = "# Benchmark results (issue 6)\n\nProduced by a new run.\n\n## Machine\n\n- CPU: new\n\n" \
             f"## {GENERATED[-1]}\n\nnew section\n"
    merged = merge_results(OLD, report)
    assert merged.startswith("# Benchmark results (issue 6)\n\nProduced by a new run.")
    assert "CPU: new" in merged and "CPU: old" not in merged
    assert "| old | table |" not in merged  # a generated section this run did not write is gone
    assert merged.index(f"## {GENERATED[-1]}") < merged.index("## Typed inputs (issue 10)")
    assert merged.index("Measured by hand: keep me.") < merged.index("## Row status (issue 11)")
    assert merged.endswith("Also by hand.\n")


def test_writing_one_section_leaves_everything_else_as_it_was() -> None:
    section = f"## {GENERATED[-1]}\n\nfirst\n"
    once = merge_results(OLD, section, only=(GENERATED[-1],))
    assert once.count(f"## {GENERATED[-1]}") == 1
    # new: after the generated sections, before the first hand-written one
    assert once.index("| old | table |") < once.index("first") < once.index("## Typed inputs (issue 10)")
    assert "Produced by an old run." in once and "CPU: old" in once and once.endswith("Also by hand.\n")
    twice = merge_results(once, f"## {GENERATED[-1]}\n\nsecond\n", only=(GENERATED[-1],))
    assert "first" not in twice and twice.count(f"## {GENERATED[-1]}") == 1
    assert twice.replace("second", "first") == once


def test_result_rows_are_counted_on_the_prediction_sheets_only(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(1_200).to_csv(source, index=False)
    target = tmp_path / "out.xlsx"
    prediction(source, target, model_dir=model_dir, chunk_rows=500)
    # the workbook also has the summary and quality sheets: their rows are not the data's
    assert xlsx_data_rows(target) == 1_200
    assert check_output(target, 1_200).startswith("1,200 rows in sheets predictions, summary, quality")


def test_the_bench_runs_the_workers_step_and_warms_up_on_the_files_head(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(3_000).to_csv(source, index=False)
    assert data_rows(str(source)) == 3_000
    assert worker_step_rows(str(source)) == step_rows(50_000, os.path.getsize(source), 3_000)
    head = head_csv(source, 200, tmp_path / "head.csv")
    lines = head.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 201 and lines == source.read_text(encoding="utf-8").splitlines()[:201]


def test_worker_log_events_are_read_back() -> None:
    log = "\n".join([
        "time=2026-12-01T15:00:00.000Z level=INFO logger=beyond.worker event=model.loaded worker=h:1:ab "
        "model=breast-cancer sha256=0123456789ab cached=1 evicted=",
        'time=2026-12-01T15:00:01.000Z level=INFO logger=beyond.worker event=job.done job=2 duration=1.25 '
        'error="a \\"quoted\\" text"',
        "time=2026-12-01T15:00:02.000Z level=INFO logger=beyond.worker event=worker.drained jobs=2",
    ])
    loaded = log_events(log, "model.loaded")
    assert loaded == [{"time": "2026-12-01T15:00:00.000Z", "level": "INFO", "logger": "beyond.worker",
                       "event": "model.loaded", "worker": "h:1:ab", "model": "breast-cancer",
                       "sha256": "0123456789ab", "cached": "1", "evicted": ""}]
    done = log_events(log, "job.done")
    assert done[0]["duration"] == "1.25" and done[0]["error"] == 'a "quoted" text'
    assert log_events(log, "job.failed") == []


@pytest.mark.procs
def test_the_workers_job_runs_as_cron_runs_it(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(3_000).to_csv(source, index=False)
    result = worker_job(source, MODEL_PATH=str(model_dir))
    # the warm-up job ran first: the measured one found the model loaded (one load in all)
    assert result["rows"] == 3_000 and result["models_loaded"] == 1
    assert 0 < result["seconds"] < result["process_wall"]
    assert abs(result["events_seconds"] - result["seconds"]) < 0.01
    assert result["log_seconds"] is not None and result["log_seconds"] <= result["seconds"] + 0.01
    assert result["peak_rss_mb"] > 50 and result["checked"].startswith("3,000 rows in sheets predictions")


@pytest.mark.procs
def test_a_worker_keeps_several_models_cached(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(2_000).to_csv(source, index=False)
    result = cached_models(source, models=2, small_rows=100, MODEL_PATH=str(model_dir))
    # cached_models raises unless each model was loaded once and none evicted
    assert result["jobs"] == 3 and result["models_loaded"] == 2 and result["cached_at_end"] == 2
    assert result["last_rows"] == 2_000 and result["checked"].startswith("2,000 rows")


@pytest.mark.procs
def test_the_quality_cost_bench_runs_both_ways_and_sums_them_up(model_dir: Path) -> None:
    from bench import quality_cost

    figures = quality_cost.summary({"with": [(2.2, 9.0), (2.0, 8.0), (3.3, 9.5)],
                                    "without": [(2.0, 8.5), (1.6, 7.0), (3.0, 8.0)]})
    assert figures["with"] == 2.2 and figures["without"] == 2.0 and figures["ratio"] == pytest.approx(1.1)
    assert figures["pair_ratio"] == pytest.approx(1.1)  # the ratios 1.1, 1.25, 1.1
    assert figures["cpu_added"] == pytest.approx(9.0 - 8.0)
    times = quality_cost.measure(2_000, 1, model=model_dir)  # two real runs of bench.ours, one each way
    assert [len(times["with"]), len(times["without"])] == [1, 1]
    assert all(job > 0 and cpu > job / 2 for job, cpu in times["with"] + times["without"])
