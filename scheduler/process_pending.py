"""Process PENDING jobs; run by cron (see crontab.example).

    python scheduler/process_pending.py            # the article's behaviour: the oldest PENDING job
    python scheduler/process_pending.py --all      # drain the queue
    python scheduler/process_pending.py --loop --interval 5   # a long-lived worker
    python scheduler/process_pending.py --job 7 [--force]     # one given job (the API's /process_file)
    python scheduler/process_pending.py --all --max-id 90     # PENDING jobs up to id 90 (/process_all)

Exit codes: 0 when the jobs it ran ended (PROCESS OK or ERROR alike: a bad file is the
user's to fix, not cron's) or nothing was pending; 1 when the model or database is unusable;
2 for bad arguments; 3 when the job given with --job could not be claimed (it is running,
finished without --force, or gone). Safe to run from any number of hosts at once.

Webhook deliveries (scheduler/deliveries.py) are sent by --loop in a thread of their own, and
by a cron run (no option, or --all) in a pass of at most 30 s after its jobs.
"""

from __future__ import annotations

import argparse
import signal
import sys

from app.core.db import DatabaseUnavailable, open_database
from app.core.jobs.files import make_private
from app.core.logfmt import log_event, setup_logging
from app.core.settings import SettingsError, load_settings
from model.schema import ModelError
from scheduler.deliveries import deliver_pass
from scheduler.worker import Worker, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Process PENDING Beyond jobs.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--all", action="store_true", help="process every PENDING job, then exit")
    mode.add_argument("--loop", action="store_true", help="keep polling until SIGTERM/SIGINT")
    mode.add_argument("--job", type=int, metavar="ID", help="process this one job (waits for a free host slot)")
    parser.add_argument("--force", action="store_true", help="with --job: run it again even if it ended")
    parser.add_argument("--seen-event", type=int, metavar="ID",
                        help="with --force: only if the job's last history event is still this one")
    parser.add_argument("--max-id", type=int, metavar="ID", help="with --all: only jobs up to this id")
    parser.add_argument("--interval", type=float, default=None, help="seconds between polls with --loop")
    args = parser.parse_args(argv)
    if args.force and args.job is None:
        parser.error("--force goes with --job")
    if args.max_id is not None and not args.all:
        parser.error("--max-id goes with --all")

    make_private()

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    setup_logging(settings.log_level)
    db = open_database(settings)
    worker = Worker(settings, db)

    def on_signal(signum: int, frame: object) -> None:
        # Finish nothing half-way: the running job goes back to PENDING at its next chunk.
        log_event(log, "worker.signal", worker=worker.worker_id, signal=signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        if args.loop:
            interval = args.interval or settings.scheduler_interval
            # A long-lived worker started while the database is down (boot order, a restart)
            # waits for it instead of exiting; the cron modes exit 1 and cron runs them again.
            while not worker.stopping.is_set():
                try:
                    db.init_schema()
                    break
                except DatabaseUnavailable as exc:
                    log_event(log, "worker.database_unavailable", worker=worker.worker_id, error=exc, retry_in=interval)
                    worker.stopping.wait(interval)
            worker.loop(interval)
        elif args.job is not None:
            db.init_schema()
            job = worker.run_job(args.job, force=args.force, seen_event=args.seen_event)
            if job is None:
                log_event(log, "worker.not_claimed", worker=worker.worker_id, job=args.job)
                return 3
        elif args.all:
            db.init_schema()
            if args.max_id is None:  # cron's --all (not /process_all's run): the sweep too
                worker.sweep()
            jobs = worker.drain(max_id=args.max_id)
            log_event(log, "worker.drained", worker=worker.worker_id, jobs=len(jobs))
            if args.max_id is None:  # cron's run (not /process_all, whose caller waits for it)
                deliver_pass(settings, db, worker.worker_id, stop=worker.stopping)
        else:
            db.init_schema()
            worker.sweep()  # cron's run: the retention sweep when this host's hour has come
            job = worker.run_once()
            if job is None:
                log_event(log, "worker.idle", worker=worker.worker_id)
            deliver_pass(settings, db, worker.worker_id, stop=worker.stopping)
    except DatabaseUnavailable as exc:
        log_event(log, "worker.database_unavailable", worker=worker.worker_id, error=exc)
        return 1
    except ModelError as exc:
        log_event(log, "worker.model_unavailable", worker=worker.worker_id, error=exc)
        return 1
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
