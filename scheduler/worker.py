"""Runs claimed jobs: the one code path of every worker process (process_pending.py), whether
cron started it, the web server's embedded workers (supervisor.py), or the API's /process_file
and /process_all (which start `process_pending.py --job N` / `--all` as a child).

A run: claim (committed) -> heartbeat thread starts -> the model runs outside any transaction,
reporting progress -> the result files are published under names unique to this claim ->
a fenced final write. A worker whose fence fails (its lease was taken over, or the job was
deleted) deletes what it wrote and moves on.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.core.db import Database, DatabaseUnavailable
from app.core.events import notify
from app.core.jobs import retention
from app.core.jobs.files import is_disk_full, stored_path
from app.core.jobs.inputs import FILE_CHANGED, UploadInputs
from app.core.jobs.quality import QualityReports
from app.core.jobs.queue import Jobs, worker_identity
from app.core.jobs.records import FILE_UNFIT, MODEL_FAILED, MODEL_UNAVAILABLE, Claim, Job, Status
from app.core.logfmt import log_event, logfmt
from app.core.registry.models import ModelRecord, Registry
from app.core.settings import Settings
from model.artifact import Model
from model.inputs.report import CsvReport
from model.predictions import InvalidInput, ModelFailed, prediction
from model.schema import ModelError
from scheduler.deliveries import DeliveryThread

log = logging.getLogger("beyond.worker")
SWEEP_CHECK_SECONDS = 60  # how often a --loop worker asks whether the retention sweep is due


class LeaseLost(Exception):
    """Our claim is no longer ours (reaped and re-claimed, or the job was deleted)."""


class ShutdownRequested(Exception):
    """SIGTERM arrived: hand the job back rather than be killed half-way."""


# How often the heartbeat thread asks (a read) whether the claim is still ours between its
# writes, so a cancelled job stops within about this long plus one progress step.
CLAIM_CHECK_SECONDS = 1.0
# Progress is written when both have passed since the last write: at least a second and 2% of
# the rows ("every second or every 2% of rows, whichever is later").
PROGRESS_SECONDS = 1.0
PROGRESS_FRACTION = 0.02
# The rows of one read-predict-write step are capped so that a step takes well under a
# second (measured: 10,000 rows of 32 columns take ~0.3 s and are no slower overall than
# 50,000, see bench/RESULTS.md): progress and cancel are noticed between steps.
STEP_ROWS_MAX = 10_000
STEP_ROWS_MIN = 500
STEP_BYTES = 2_000_000  # wide rows: fewer rows per step, about this much CSV text


def step_rows(chunk_rows: int, file_size: int, rows_total: int | None) -> int:
    """Rows per step for a job: CHUNK_ROWS, but at most STEP_ROWS_MAX and about STEP_BYTES of
    the file's text, so each step is short whatever the width of the rows."""
    rows = min(chunk_rows, STEP_ROWS_MAX)
    if rows_total and file_size > 0:
        per_row = file_size / rows_total
        rows = min(rows, max(STEP_ROWS_MIN, int(STEP_BYTES / per_row)))
    return max(1, rows)


class Heartbeat:
    """Keeps a claimed job's lease alive from a background thread and carries progress.

    Only that thread talks to the database: the model's thread never waits on a heartbeat (while
    the database is unreachable a connection attempt can take seconds, once per chunk)."""

    def __init__(self, jobs: Jobs, claim: Claim, every: float) -> None:
        self.jobs, self.claim, self.every = jobs, claim, every
        self.rows_done, self.rows_total = 0, claim.job.rows_total
        self._written_rows = 0
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_attempt = time.monotonic()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{claim.job.id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def beat(self) -> None:
        with self._lock:
            self._last_attempt = time.monotonic()
            try:
                rows = self.rows_done
                ok = self.jobs.heartbeat(self.claim, rows, self.rows_total)
                self._written_rows = rows
            except Exception as exc:
                # Keep working: the lease is long enough to ride out a short outage. Any error
                # (not only DatabaseUnavailable: SQLite's "database is locked" too) is caught,
                # because a heartbeat thread that died would let a healthy run's lease expire.
                error = exc if isinstance(exc, DatabaseUnavailable) else f"{type(exc).__name__}: {exc}"
                log_event(log, "job.heartbeat_failed", logging.WARNING, job=self.claim.job.id, error=error)
                return
            if not ok:
                self.lost.set()

    def check(self) -> None:
        """Between writes: is the claim still ours? (A cancel or a takeover sets ``lost``.)"""
        try:
            alive = self.jobs.claim_alive(self.claim)
        except Exception:  # a failed read proves nothing; the next beat or check asks again
            return
        if not alive:
            self.lost.set()

    def progress(self, rows_done: int, rows_total: int) -> None:
        """Called by prediction() after each step: records the count and has the heartbeat
        thread write it once a second and 2% of the rows have passed since the last write.
        Raises LeaseLost once a write or check has found the claim gone (cancelled, reaped)."""
        self.rows_done, self.rows_total = rows_done, rows_total
        if (time.monotonic() - self._last_attempt >= PROGRESS_SECONDS
                and rows_done - self._written_rows >= PROGRESS_FRACTION * (rows_total or 0)):
            self._wake.set()
        if self.lost.is_set():
            raise LeaseLost(f"job {self.claim.job.id}: lease lost")

    def _run(self) -> None:
        while True:
            # Wake for progress, or to check the claim; write every HEARTBEAT_SECONDS at least.
            woken = self._wake.wait(min(self.every, CLAIM_CHECK_SECONDS))
            self._wake.clear()
            if self._stop.is_set():
                return
            if woken or time.monotonic() - self._last_attempt >= self.every:
                self.beat()
            else:
                self.check()


@contextmanager
def host_slot(settings: Settings, wait: bool) -> Iterator[int | None]:
    """One of MAX_CONCURRENT_JOBS slots on this host (flock on local files, so overlapping
    cron runs share the cap). Yields the slot number, or None when all are busy and not wait."""
    key = hashlib.sha256(f"{settings.host}|{settings.dbname}|{settings.sqlite_path}".encode()).hexdigest()[:12]
    directory = Path(tempfile.gettempdir()) / f"beyond-slots-{key}"
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        for slot in range(settings.max_concurrent_jobs):
            handle = open(directory / f"slot-{slot}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield slot
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if not wait:
            yield None
            return
        time.sleep(0.5)


def rss_bytes() -> int:
    """This process's resident memory now (psutil; 0 if it cannot be read)."""
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.Process().memory_info().rss)
    except Exception:  # memory logging must never stop a job
        return 0


def _files_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of a model's files: a cheap check that the files a
    cached model was loaded from (and hashed) are still the same."""
    try:
        return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")
                            if p.is_file()))
    except OSError:
        return ()


class ModelCache:
    """The models one worker process keeps loaded, least recently used first out, keyed by the
    artifact's sha256 (two names deploying the same files share one entry)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[Model, tuple[tuple[str, int, int], ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, registry: Registry, record: ModelRecord, sha256: str, worker: str) -> Model:
        directory = record.directory(registry.models_dir)
        with self._lock:
            cached = self._entries.get(sha256)
            if cached is not None and cached[1] == _files_signature(directory):
                self._entries.move_to_end(sha256)
                return cached[0]
            self._entries.pop(sha256, None)
            before = rss_bytes()
            started = time.monotonic()
            model = registry.load(record, sha256)  # hashes the files: ModelError if they changed
            self._entries[sha256] = (model, _files_signature(directory))
            evicted = []
            while len(self._entries) > self.size:
                evicted.append(self._entries.popitem(last=False)[0][:12])
            log_event(log, "model.loaded", worker=worker, model=record.name, version=record.version,
                      sha256=sha256[:12], rss_delta_bytes=max(0, rss_bytes() - before) if before else None,
                      rss_bytes=rss_bytes() or None, duration=round(time.monotonic() - started, 3),
                      cached=len(self._entries), evicted=",".join(evicted) or None)
            return model


def result_stem(job_id: int, token: str) -> str:
    """Result files are named per claim, so two claims of one job never write the same name,
    and the reaper can find what a lost claim left behind (its ``.<stem>.*.part`` temp files
    and results published just before it died)."""
    return f"job-{job_id}-{token[:8]}"


class Worker:
    def __init__(self, settings: Settings, db: Database, worker_id: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.jobs = Jobs(db)
        self.worker_id = worker_id or worker_identity()
        self.stopping = threading.Event()
        self.registry = Registry(db, settings)
        self.models = ModelCache(settings.model_cache_size)

    # -- the pieces ----------------------------------------------------------------------------
    def model(self) -> ModelRecord:
        """The default model's active version (registering MODEL_PATH on an installation from
        before the registry): ModelError when there is none, checked before claiming anything."""
        return self.registry.default()

    def model_for(self, job: Job) -> Model:
        """The model version the job was accepted for (jobs from before the registry: the
        default model's active version), loaded through the cache. ModelError naming the
        model and version when its files are missing, changed or broken."""
        return self.model_and_sha256_for(job)[0]

    def model_and_sha256_for(self, job: Job) -> tuple[Model, str]:
        """`model_for`, and the artifact hash its files were verified against (the cache
        hashes them on loading, and reloads when they change)."""
        model, sha256, _ = self.job_model(job)
        return model, sha256

    def job_model(self, job: Job) -> tuple[Model, str, ModelRecord]:
        """`model_and_sha256_for`, and the registered version (its schema names the id column:
        the cache shares one Model between names deploying the same files)."""
        if job.model_name is None:
            record = self.registry.default()
        else:
            version = job.model_version or ""
            found = self.registry.get(job.model_name, version)
            if found is None:
                raise ModelError(f"model {job.model_name} version {version} is not in the registry.")
            record = found
        sha256 = job.model_sha256 or record.sha256
        return self.models.get(self.registry, record, sha256, self.worker_id), sha256, record

    def input_report(self, job: Job, input_path: Path, model_sha256: str) -> tuple[CsvReport | None, float]:
        """The upload check's report when the worker may trust it (job.input_trusted), else
        None (job.input_rechecked, with the reason): prediction() then checks the file as
        before, and a file that no longer fits ends the job ERROR naming its row and column.

        With it, the share of rows with bad cells prediction() may leave unscored: 100 (the
        upload check applied MAX_BAD_ROWS_PERCENT when it accepted the file: the job runs what
        was accepted, whatever the setting is now), except for a file that changed since: that
        is not what was accepted, so the setting applies to it as to an upload."""
        started = time.monotonic()
        try:
            report, reason = UploadInputs(self.db).trusted_report(job.id, input_path, model_sha256)
        except DatabaseUnavailable as exc:  # checking the file is slower, never wrong
            report, reason = None, f"database unavailable: {exc}"
        fields: dict[str, Any] = dict(job=job.id, worker=self.worker_id, duration=round(time.monotonic() - started, 3))
        if report is None:
            log_event(log, "job.input_rechecked", **fields, reason=reason)
        else:
            log_event(log, "job.input_trusted", **fields, rows=report.rows)
        return report, self.settings.max_bad_rows_percent if reason == FILE_CHANGED else 100.0

    def reap(self) -> None:
        for lost in self.jobs.reap_lost(self.settings.lease_seconds, self.settings.max_attempts):
            removed = self._remove_claim_files(lost.id, lost.token) if lost.token else 0
            log_event(
                log, "job.failed" if lost.failed else "job.requeued",
                logging.ERROR if lost.failed else logging.WARNING,
                job=lost.id, user=lost.owner_name, worker=lost.lost_worker, duration=lost.held_seconds,
                status=(Status.ERROR if lost.failed else Status.PENDING).value, attempts=lost.attempts,
                reason="worker lost, attempts exhausted" if lost.failed else "lease expired",
                reaper=self.worker_id, files_removed=removed,
            )
            if lost.failed:
                ended = self.jobs.get(lost.id)
                if ended is not None:
                    notify.job_finished(self.settings, self.db, ended)  # best effort, never raises

    def _remove_claim_files(self, job_id: int, token: str) -> int:
        """Delete what a reaped claim left in OUTPUT_DIR: a killed worker's hidden .part temp
        files, and results it published but never recorded. Safe: the claim is fenced out, and
        no other claim writes these names. A stopped (not dead) worker that resumes finds its
        lease lost and discards its output anyway."""
        stem = result_stem(job_id, token)
        directory = self.settings.output_dir
        removed = 0
        candidates = [directory / f"{stem}.xlsx", directory / f"{stem}.csv"]
        if directory.is_dir():
            candidates += list(directory.glob(f".{stem}.*.part"))
        for path in candidates:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:  # storage trouble must not stop the reaper
                log_event(log, "job.cleanup_failed", logging.WARNING, job=job_id, file=path.name, error=exc)
        return removed

    def claim_next(self) -> Claim | None:
        claim = self.jobs.claim_next(self.worker_id)
        if claim:
            self._log_claimed(claim)
        return claim

    def claim(self, job_id: int, force: bool = False, seen_event: int | None = None) -> Claim | None:
        claim = self.jobs.claim(job_id, self.worker_id, force=force, seen_event=seen_event)
        if claim:
            self._log_claimed(claim)
        return claim

    def _log_claimed(self, claim: Claim) -> None:
        job = claim.job
        # duration: seconds the job waited since its upload (both times from the database clock)
        waited = round((job.date_init - job.date_up).total_seconds(), 3) if job.date_init and job.date_up else None
        log_event(
            log, "job.claimed", job=job.id, user=job.owner_name, worker=self.worker_id, duration=waited,
            status=Status.IN_PROCESS.value, attempt=job.attempts, rows=job.rows_total,
        )

    def _retry_final(self, what: str, write, job: Job) -> bool:  # type: ignore[no-untyped-def]
        """The final write must not be lost to a short database outage: retry with backoff.
        If the database stays away, give up; the reaper requeues the job after the lease."""
        delay = 0.5
        deadline = time.monotonic() + max(30.0, self.settings.lease_seconds / 2)
        while True:
            try:
                return bool(write())
            except DatabaseUnavailable as exc:
                fields = dict(job=job.id, user=job.owner_name, worker=self.worker_id, what=what, error=exc)
                if time.monotonic() > deadline:
                    log_event(log, "job.final_write_abandoned", logging.ERROR, **fields)
                    raise
                log_event(log, "job.final_write_retry", logging.WARNING, **fields, delay=delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    # -- running a claimed job ------------------------------------------------------------------
    def run_claim(self, claim: Claim) -> Job:
        """Process one claimed job to PROCESS OK or ERROR (or back to PENDING on shutdown)."""
        job = claim.job
        started = time.monotonic()
        input_path = self.settings.input_dir / job.path_up
        stem = result_stem(job.id, claim.token)
        xlsx_path = self.settings.output_dir / f"{stem}.xlsx"
        csv_path = self.settings.output_dir / f"{stem}.csv"
        self.settings.output_dir.mkdir(parents=True, exist_ok=True)
        outcome, message = "ok", None
        model: Model | None = None
        quality: dict[str, Any] = {}  # the job's data-quality report (model/quality.py)
        with Heartbeat(self.jobs, claim, self.settings.heartbeat_seconds) as heartbeat:

            def progress(done: int, total: int) -> None:
                if self.stopping.is_set():
                    raise ShutdownRequested()
                heartbeat.progress(done, total)

            try:
                if not input_path.is_file():
                    raise FileNotFoundError(str(input_path))
                model, model_sha256, record = self.job_model(job)
                report, max_bad_rows_percent = self.input_report(job, input_path, model_sha256)
                prediction(
                    input_path, xlsx_path, csv_file=csv_path, model=model, progress=progress, report=report,
                    chunk_rows=step_rows(self.settings.chunk_rows, job.file_size, job.rows_total),
                    source_name=job.file_name,
                    probability_columns=self.settings.probability_columns,
                    model_name=job.model_name or self.settings.default_model, model_sha256=job.model_sha256,
                    quality=quality.update, max_bad_rows_percent=max_bad_rows_percent,
                    job_id=job.id, id_column=record.id_column,
                )
                if heartbeat.lost.is_set():
                    raise LeaseLost(f"job {job.id}: lease lost")
            except LeaseLost:
                outcome = "lease_lost"
            except ShutdownRequested:
                outcome = "released"
            except InvalidInput as exc:
                outcome, message = "error", f"{FILE_UNFIT}{exc}"
            except ModelFailed as exc:
                outcome, message = "error", f"{MODEL_FAILED}{exc}"
                log_event(log, "job.model_failed", logging.ERROR, job=job.id, worker=self.worker_id,
                          model=job.model_name, version=job.model_version, error=exc)
            except FileNotFoundError:
                outcome, message = "error", "The uploaded file is missing from storage; upload it again."
            except ModelError as exc:
                outcome, message = "error", f"{MODEL_UNAVAILABLE}{exc}"
                log_event(log, "job.model_unavailable", logging.ERROR, job=job.id, worker=self.worker_id,
                          model=job.model_name, version=job.model_version, error=exc)
            except MemoryError:
                outcome, message = "error", "The file is too large to process with the memory available."
            except Exception as exc:  # any model failure must end the job, not the worker
                if is_disk_full(exc):  # not the job's fault: it is tried again (MAX_ATTEMPTS in all)
                    outcome, message = "disk_full", ("The result could not be written: the disk of the result "
                                                     "storage (OUTPUT_DIR) is full.")
                    log_event(log, "job.disk_full", logging.ERROR, job=job.id, worker=self.worker_id,
                              attempt=job.attempts, error=exc)
                else:
                    log.exception(logfmt("job.exception", job=job.id, worker=self.worker_id))
                    outcome, message = "error", f"Processing failed: {type(exc).__name__}: {exc}"

        elapsed = round(time.monotonic() - started, 3)
        fields: dict[str, Any] = dict(job=job.id, user=job.owner_name, worker=self.worker_id, duration=elapsed)
        if outcome == "disk_full" and job.attempts < self.settings.max_attempts:
            requeued = self._retry_final("requeue", lambda: self.jobs.requeue(claim, message or "disk full"), job)
            if requeued:
                log_event(log, "job.requeued", logging.WARNING, **fields, status=Status.PENDING.value,
                          attempt=job.attempts, reason="disk full")
            outcome = "requeued" if requeued else "lease_lost"
        elif outcome == "disk_full":
            outcome, message = "error", (f"{message} Gave up after {job.attempts} attempts (MAX_ATTEMPTS); free "
                                         "space, then retry the job.")
        if outcome == "ok":
            assert model is not None
            rows = heartbeat.rows_done
            # The registry's version the job was accepted for; jobs from before: the schema's.
            version = job.model_version if job.model_name and job.model_version else model.version
            done = self._retry_final(
                "complete",
                lambda: self.jobs.complete(claim, xlsx_path.name, csv_path.name, rows, version),
                job,
            )
            if done and quality:
                try:  # the job is done: a report that cannot be stored must not undo that
                    self._retry_final("quality", lambda: QualityReports(self.db).save(
                        job.id, job.model_name or self.settings.default_model, version, quality), job)
                except Exception:  # logged; the result stands
                    log.exception(logfmt("job.quality_not_stored", job=job.id, worker=self.worker_id))
            if done:
                # A forced re-run replaces the previous claim's results.
                for old in (job.path_result, job.path_result_csv):
                    path = stored_path(self.settings.output_dir, old)
                    if path is not None and path.name not in (xlsx_path.name, csv_path.name):
                        path.unlink(missing_ok=True)
                log_event(log, "job.done", **fields, rows=rows, status=Status.PROCESS_OK.value,
                          model=job.model_name or self.settings.default_model, version=version)
            else:
                outcome = "lease_lost"
        elif outcome == "error":
            if self._retry_final("fail", lambda: self.jobs.fail(claim, message or "failed"), job):
                log_event(log, "job.failed", logging.WARNING, **fields, status=Status.ERROR.value, error=message)
            else:
                outcome = "lease_lost"
        elif outcome == "released":
            if self._retry_final("release", lambda: self.jobs.release(claim), job):
                log_event(log, "job.released", logging.WARNING, **fields, status=Status.PENDING.value, reason="shutdown")
            else:
                outcome = "lease_lost"  # not ours to give back any more
        if outcome in ("lease_lost", "released", "error", "requeued"):
            # Never leave a result that the database does not point at.
            xlsx_path.unlink(missing_ok=True)
            csv_path.unlink(missing_ok=True)
        final = self.jobs.get(job.id)
        if outcome == "lease_lost" and final is not None and final.status is Status.CANCELLED:
            # Not lost to another worker: cancelled by a user (Jobs.cancel wrote the history).
            log_event(log, "job.cancel_seen", **fields, rows=heartbeat.rows_done, action="output discarded")
        elif outcome == "lease_lost":
            log_event(log, "job.lease_lost", logging.WARNING, **fields, action="output discarded")
        if outcome in ("ok", "error") and final is not None:
            notify.job_finished(self.settings, self.db, final)  # best effort, never raises
        if outcome == "ok" and final is not None and quality:
            # Issue 11: an `alert` report e-mails the model's deployer (and QUALITY_ALERT_TO).
            # Only the worker that recorded the result gets here, so once per run of the job.
            notify.quality_alert(self.settings, self.db, final, quality)  # best effort, never raises
        return final if final is not None else job

    # -- the loops ---------------------------------------------------------------------------------
    def run_once(self, wait_for_slot: bool = False) -> Job | None:
        """Reap, then claim the oldest PENDING job and process it. None if nothing was run."""
        self.reap()
        with host_slot(self.settings, wait_for_slot) as slot:
            if slot is None:
                log_event(log, "worker.host_busy", limit=self.settings.max_concurrent_jobs)
                return None
            self.model()  # no default model at all must stop us before we claim anything
            claim = self.claim_next()
            if claim is None:
                return None
            return self.run_claim(claim)

    def run_job(self, job_id: int, force: bool = False, seen_event: int | None = None) -> Job | None:
        """Reap, wait for a host slot, then claim and process this one job (``force``: even
        if it ended; ``seen_event``: only if it has not changed since, Jobs.claim). None if it
        could not be claimed: running, ended without force, changed, gone."""
        self.reap()
        with host_slot(self.settings, wait=True):
            # The model this job needs must load before the job is touched: a broken one is
            # the deployment's problem (ModelError, exit 1: the API answers 503), not the job's.
            job = self.jobs.get(job_id)
            if job is None:
                return None
            self.model_for(job)
            claim = self.claim(job_id, force=force, seen_event=seen_event)
            if claim is None:
                return None
            return self.run_claim(claim)

    def drain(self, max_id: int | None = None) -> list[Job]:
        """Process PENDING jobs until none is left (with ``max_id``: only those up to that id,
        the ones PENDING when an API call asked, so a stream of new uploads cannot keep it
        going for ever; they are the scheduler's)."""
        done = []
        if max_id is not None:
            for job_id in self.jobs.pending_ids():
                if self.stopping.is_set() or job_id > max_id:
                    break
                job = self.run_job(job_id)
                if job is not None:
                    done.append(job)
            return done
        while not self.stopping.is_set():
            job = self.run_once()
            if job is None:
                break
            done.append(job)
            if job.status is Status.PENDING:  # handed back (a full disk): tried again at the next poll, not now
                break
        return done

    def loop(self, interval: float) -> None:
        """Long-lived worker: poll every ``interval`` seconds until stop() is called."""
        log_event(log, "worker.started", worker=self.worker_id, interval=interval)
        # Webhook deliveries in a thread of their own: a slow receiver never holds up a job.
        deliveries = DeliveryThread(self.settings, self.db, self.worker_id).start()
        try:
            self._loop(interval)
        finally:
            deliveries.stop()
        log_event(log, "worker.stopped", worker=self.worker_id)

    def _loop(self, interval: float) -> None:
        next_sweep_check = 0.0
        while not self.stopping.is_set():
            if time.monotonic() >= next_sweep_check:
                # The database decides whose turn it is (once an hour per host); asking it once
                # a minute per process keeps that question cheap.
                next_sweep_check = time.monotonic() + SWEEP_CHECK_SECONDS
                self.sweep()
            try:
                self.drain()
            except DatabaseUnavailable as exc:
                log_event(log, "worker.database_unavailable", logging.WARNING, worker=self.worker_id, error=exc)
            except ModelError as exc:
                log_event(log, "worker.model_unavailable", logging.ERROR, worker=self.worker_id, error=exc)
            except Exception:
                log.exception("worker loop error")
            self.stopping.wait(interval)

    def sweep(self) -> retention.SweepResult | None:
        """Run the retention sweep if it is due on this host (RESULT_RETENTION_DAYS,
        ARCHIVE_AFTER_DAYS); its failures are logged, never raised: jobs go on."""
        try:
            return retention.sweep_if_due(self.settings, self.db)
        except DatabaseUnavailable as exc:
            log_event(log, "worker.database_unavailable", logging.WARNING, worker=self.worker_id, error=exc)
        except Exception:
            log.exception("retention sweep failed")
        return None

    def stop(self) -> None:
        self.stopping.set()
