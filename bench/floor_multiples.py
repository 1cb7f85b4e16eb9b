"""Issue 15, "Measure first": the floor, the worker's job as cron runs it, and each stage.

For every size (default 100,000 and 1,000,000 rows) and data kind (the data set's two to five
decimals, and six significant digits as issue 15's held-out files have them), one after the
other as child processes (the machine has 2 cores), in the same invocation:

- the floor (bench/floor.py): chunked `pd.read_csv` + `predict_proba`, nothing written;
- ours (bench/ours.py --stages): `prediction()` as the worker calls it, with its seconds per
  stage (validate, read, predict, row status and quality, .xlsx text, compression, CSV, ...);
- the worker's job (bench/worker_job.py): a throwaway installation, a warm-up job then the
  file submitted with the CLI, one `scheduler/process_pending.py --all` process; the job's
  ``duration_seconds`` from the database, the process's peak RSS;

each reported as a multiple of the floor measured in that same run. Then the article's way
against ours on the 100,000-row six-digit file, and a worker holding 4 cached models (the
default and 3 copies deployed with the CLI, a 1,000-row job each, then the 100,000-row
six-digit file for the first again) in one process. The goals are checked at the end.

    python -m bench.floor_multiples                        # all of it (about 3 minutes on 2 cores)
    python -m bench.floor_multiples --sizes 100000         # 100k only (about 1.5 minutes)
    python -m bench.floor_multiples --sizes 100000 --no-article --no-cached   # floor, ours, worker, stages
    python -m bench.floor_multiples --kinds six --runs 3   # six-digit data only, medians of 3 runs
    python -m bench --issue15 [--write]                    # the same from the main bench (--write: this
                                                           # section of bench/RESULTS.md only)

Exit status 1 when a goal is not met (the table says which).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import make_csv
from bench.measure import Run, load_average, median, run_measured
from bench.service import check_output
from bench.worker_job import cached_models, worker_job

HEADING = "Issue 15: the floor, the worker's job, the stages"
KINDS = {"two": "two to five decimals", "six": "six significant digits"}
ARTICLE_ROWS = 100_000  # the article's way takes a minute and 1.4 GB here; more is pointless
# Goals of issue 15 (a benchmark's, not a timed test's).
WORKER_OVER_FLOOR_1M = 4.0
WORKER_RSS_MB = 400
ARTICLE_OVER_OURS_6D = 25.0
CACHED_RSS_MB = 600
# Stages as the table names them (model.predictions.STAGES, in that order).
STAGE_LABELS = {
    "validate": "validate (the upload check's pass)",
    "read": "read",
    "predict": "predict",
    "quality": "row status and quality",
    "numbers": "number text (once, for both files)",
    "xlsx_text": ".xlsx text (the workbook's process)",
    "csv": "CSV",
    "compress": "compression (the workbook's process)",
    "compress_wait": "its waits for compression",
    "handoff": "handing blocks to the workbook's process, waiting for it",
    "finish": "finish (summary and quality sheets, closing)",
}
# Not part of the job's own time: from 50,000 rows (model.predictions.PARALLEL_MIN_ROWS, so
# every size here) the workbook is written by a process of its own, beside the job.
OVERLAPPING = {"xlsx_text", "compress", "compress_wait"}


@dataclass
class Case:
    """One size and kind: every run of each way, in the order they ran."""

    rows: int
    kind: str
    floor: list[Run] = field(default_factory=list)
    ours: list[Run] = field(default_factory=list)
    worker: list[dict[str, Any]] = field(default_factory=list)
    checked: str = ""

    @property
    def floor_s(self) -> float:
        return median([r.job for r in self.floor])

    @property
    def ours_s(self) -> float:
        return median([r.job for r in self.ours])

    @property
    def worker_s(self) -> float:
        return median([w["seconds"] for w in self.worker])

    def stages(self) -> dict[str, float]:
        """The stages of ours' median run (one run's, so they add up to its job time)."""
        middle = sorted(self.ours, key=lambda r: r.job)[len(self.ours) // 2]
        return {name: float(middle.output["stages"][name]) for name in STAGE_LABELS} | {"job": middle.job}


@dataclass
class Section:
    text: str
    goals: list[tuple[str, bool]]

    @property
    def ok(self) -> bool:
        return all(met for _, met in self.goals)


def _say(text: str) -> None:
    print(f"  {text}", flush=True)


def measure_case(rows: int, kind: str, runs: int, out_dir: Path) -> Case:
    source = make_csv(rows, six_digits=kind == "six")
    case = Case(rows, kind)
    for i in range(runs):
        case.floor.append(run_measured(["-m", "bench.floor", str(source), "--warm-up"]))
        target = out_dir / f"ours-{kind}-{rows}.xlsx"
        case.ours.append(run_measured(["-m", "bench.ours", str(source), str(target), "--stages", "--warm-up"]))
        if i == runs - 1:
            case.checked = check_output(target, rows)
        for leftover in out_dir.glob(f"ours-{kind}-{rows}.*"):
            leftover.unlink()
        case.worker.append(worker_job(source))
        f, o, w = case.floor[-1], case.ours[-1], case.worker[-1]
        _say(f"{rows:>9,} rows, {kind}, run {i + 1}/{runs}: floor {f.job:.2f} s ({f.peak_rss_mb:.0f} MB), "
             f"ours {o.job:.2f} s ({o.peak_rss_mb:.0f} MB, steps of {o.output['chunk_rows']:,}), "
             f"worker's job {w['seconds']:.2f} s ({w['peak_rss_mb']:.0f} MB)")
    return case


def article_vs_ours(runs: int, out_dir: Path) -> tuple[list[Run], list[Run]]:
    """The article's way and ours on the 100,000-row six-digit file, alternating (the load of
    a shared machine changes over the article's minute: each ours run sits next to one)."""
    source = make_csv(ARTICLE_ROWS, six_digits=True)
    article, ours = [], []
    for i in range(runs):
        article.append(run_measured(["-m", "bench.article", str(source), str(out_dir / "article.xlsx")]))
        (out_dir / "article.xlsx").unlink(missing_ok=True)
        ours.append(run_measured(["-m", "bench.ours", str(source), str(out_dir / "ours.xlsx"), "--warm-up"]))
        for leftover in out_dir.glob("ours.*"):
            leftover.unlink()
        _say(f"article {ARTICLE_ROWS:,} rows, six digits, run {i + 1}/{runs}: {article[-1].job:.2f} s "
             f"({article[-1].peak_rss_mb:,.0f} MB); ours next to it {ours[-1].job:.2f} s")
    return article, ours


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _multiple(seconds: float, floor: float) -> str:
    return f"{seconds / floor:.1f}x" if floor > 0 else "?"


def render(cases: list[Case], article: tuple[list[Run], list[Run]] | None, cached: dict[str, Any] | None,
           runs: int, started: dt.datetime, load_before: str, load_after: str) -> Section:
    goals: list[tuple[str, bool]] = []
    out = [
        f"## {HEADING}",
        "",
        f"`python -m bench.floor_multiples` (or `python -m bench --issue15`) on {started:%Y-%m-%d %H:%M}, "
        f"{'one run' if runs == 1 else f'medians of {runs} runs'} per size, kind and way, each a process of its own, "
        f"one at a time; load average before: {load_before}, after: {load_after}.",
        "",
        "*floor*: `pd.read_csv(chunksize=50_000)` and the default model's `predict_proba` on each chunk, nothing "
        "validated or written (bench/floor.py). *ours*: `prediction()` as the worker calls it, in the worker's "
        "steps (`scheduler.worker.step_rows`), after imports and the model load (bench/ours.py). Both are timed "
        "after an untimed run on the file's first 200 rows (`--warm-up`: first calls and lazy imports), as the "
        "worker's job is. *worker's job*: "
        "the file submitted with `python -m app submit` to a throwaway SQLite installation and run by one "
        "`scheduler/process_pending.py --all` process after a 200-row warm-up job of the same model, so start-up "
        "and the model load are taken out; its seconds are the job's `duration_seconds` in the database (claim to "
        "final write: heartbeats, progress writes and the final fenced write included). Every multiple is of the "
        "floor measured in the same run. *peak RSS*: the kernel's maximum resident set of each process (for the "
        "worker, the whole `process_pending.py` process); *workbook process*: the peak of the process that "
        "writes the workbook beside the job (model/results/process.py, from 50,000 rows), from ours' runs.",
        "",
    ]
    rows = []
    for c in cases:
        rss = (max(r.peak_rss_mb for r in c.floor), max(r.peak_rss_mb for r in c.ours),
               max(w["peak_rss_mb"] for w in c.worker),
               max(float(r.output.get("stages", {}).get("writer_peak_rss_mb", 0.0)) for r in c.ours))
        rows.append([f"{c.rows:,}", KINDS[c.kind], f"{c.floor_s:.3f}", f"{c.ours_s:.3f}", _multiple(c.ours_s, c.floor_s),
                     f"{c.worker_s:.3f}", f"**{_multiple(c.worker_s, c.floor_s)}**",
                     f"{c.rows / c.worker_s:,.0f}", " / ".join(f"{v:,.0f}" for v in rss)])
    out += [_table(["rows", "data", "floor (s)", "ours (s)", "ours / floor", "worker's job (s)", "worker / floor",
                    "worker rows/s", "peak RSS floor / ours / worker / workbook process (MB)"], rows), ""]
    for c in cases:
        out.append(f"- {c.rows:,} rows, {KINDS[c.kind]}: {c.checked} (ours); the worker's result: "
                   f"{c.worker[-1]['checked']}; steps of {c.ours[-1].output['chunk_rows']:,} rows.")
        if c.rows >= 1_000_000:
            multiple = c.worker_s / c.floor_s
            goals.append((f"{c.rows:,} rows, {KINDS[c.kind]}: the worker's job {multiple:.1f}x the floor "
                          f"(at most {WORKER_OVER_FLOOR_1M:.0f}x)", multiple <= WORKER_OVER_FLOOR_1M))
        peak = max(w["peak_rss_mb"] for w in c.worker)
        goals.append((f"{c.rows:,} rows, {KINDS[c.kind]}: the worker's peak RSS {peak:,.0f} MB "
                      f"(under {WORKER_RSS_MB} MB)", peak < WORKER_RSS_MB))
    out.append("")

    if cases:
        out += [
            "Where `prediction()`'s time goes (bench/ours.py `--stages`: `model.predictions.STAGES`, measured "
            "inside the job; seconds and share of the job time, of ours' median run):",
            "",
        ]
        stage_rows = []
        per_case = [(c, c.stages()) for c in cases]
        for name, label in STAGE_LABELS.items():
            stage_rows.append([label] + [f"{s[name]:.2f} ({100 * s[name] / s['job']:.0f}%)" for _, s in per_case])
        untimed = [s["job"] - sum(s[k] for k in STAGE_LABELS if k not in OVERLAPPING) for _, s in per_case]
        stage_rows.append(["not in a stage"] + [f"{u:.2f} ({100 * u / s['job']:.0f}%)"
                                                for u, (_, s) in zip(untimed, per_case)])
        stage_rows.append(["**ours' job**"] + [f"**{s['job']:.2f}**" for _, s in per_case])
        out += [_table(["stage"] + [f"{c.rows:,} {c.kind}" for c in cases], stage_rows), ""]
        out += ["The workbook's XML and its compression run in the workbook's own process "
                "(model/results/process.py) beside the job, so the shares without them add up to 100%; what the "
                "job waited for that process is in *handing blocks to the workbook's process*.", ""]

    if article:
        a, o = article
        ratio = median([r.job for r in a]) / median([r.job for r in o])
        out += [
            f"The article's way (bench/article.py: `read_csv`, `predict_proba`, `to_excel` with openpyxl) against "
            f"ours (`--warm-up`, each run right after an article run) on {ARTICLE_ROWS:,} rows of six-digit data: "
            f"article {median([r.job for r in a]):.2f} s "
            f"({max(r.peak_rss_mb for r in a):,.0f} MB), ours {median([r.job for r in o]):.2f} s "
            f"({max(r.peak_rss_mb for r in o):,.0f} MB): **{ratio:.1f}x** (job times).",
            "",
        ]
        goals.append((f"{ARTICLE_ROWS:,} rows, six significant digits: article / ours {ratio:.1f}x "
                      f"(at least {ARTICLE_OVER_OURS_6D:.0f}x)", ratio >= ARTICLE_OVER_OURS_6D))

    if cached:
        out += [
            f"A worker with {cached['models']} cached models (bench/worker_job.py `cached_models`): the default "
            f"model and {cached['models'] - 1} copies deployed with `python -m app deploy-model` (each copy's "
            "schema.json names its own version, so each has its own sha256: the worker's cache is keyed by it), "
            f"`MODEL_CACHE_SIZE={cached['models']}`, a {cached['small_rows']:,}-row job per model, then "
            f"{cached['last_rows']:,} rows of six-digit data for the first model again, all in one "
            f"`process_pending.py --all` process: {cached['jobs']} jobs PROCESS OK, {cached['models_loaded']} "
            f"`model.loaded` events (each model once, none evicted, {cached['cached_at_end']} cached at the end), "
            f"RSS after each load {', '.join(f'{v} MB' for v in cached['rss_after_loads_mb'])}; the last job "
            f"{cached['last_seconds']:.2f} s; **peak RSS {cached['peak_rss_mb']:,.0f} MB**; {cached['checked']}.",
            "",
        ]
        goals.append((f"a worker with {cached['models']} cached models: peak RSS {cached['peak_rss_mb']:,.0f} MB "
                      f"(under {CACHED_RSS_MB} MB)", cached["peak_rss_mb"] < CACHED_RSS_MB))

    if goals:
        out += ["Goals:", ""] + [f"- {'met' if met else '**not met**'}: {text}" for text, met in goals] + [""]
    return Section("\n".join(out) + "\n", goals)


def run(sizes: list[int], kinds: list[str], runs: int = 1, article: bool = True, cached: bool = True,
        cached_rows: int = 100_000) -> Section:
    """Measure everything this section reports, one child process at a time."""
    started = dt.datetime.now()
    load_before = load_average()
    print(f"issue 15: floor, ours, the worker's job; load average before: {load_before}", flush=True)
    cases = []
    with tempfile.TemporaryDirectory(prefix="beyond-bench-issue15-") as tmp:
        out_dir = Path(tmp)
        for rows in sizes:
            for kind in kinds:
                cases.append(measure_case(rows, kind, runs, out_dir))
        compared = None
        if article:
            compared = article_vs_ours(runs, out_dir)
    many = None
    if cached:
        many = cached_models(make_csv(cached_rows, six_digits=True))
        _say(f"4 cached models: peak RSS {many['peak_rss_mb']:,.0f} MB")
    return render(cases, compared, many, runs, started, load_before, load_average())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.floor_multiples", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    ap.add_argument("--kinds", default="two,six", help=f"comma-separated data kinds: {', '.join(KINDS)}")
    ap.add_argument("--runs", type=int, default=1, help="runs per size, kind and way (median reported)")
    ap.add_argument("--no-article", action="store_true", help="without the article's way (a minute at 100k)")
    ap.add_argument("--no-cached", action="store_true", help="without the worker holding 4 cached models")
    args = ap.parse_args(argv)
    section = run(parse_sizes(args.sizes), parse_kinds(args.kinds), args.runs, not args.no_article, not args.no_cached)
    print()
    print(section.text)
    return 0 if section.ok else 1


def parse_sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def parse_kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"unknown data kind(s) {', '.join(unknown)}: use {', '.join(KINDS)}")
    return kinds


if __name__ == "__main__":
    raise SystemExit(main())
