"""The web server as it was before issue 6: embedded workers as threads of the server process
(the old `EmbeddedWorkers`), kept only so the benchmark can compare it with worker processes.

    APP_CONFIG=... python -m bench.threaded_server PORT
"""

from __future__ import annotations

import sys
import threading

import uvicorn

from app.core.settings import load_settings
from app.web import create_app
from scheduler.worker import Worker


def main(port: int) -> None:
    settings = load_settings()
    app = create_app(settings.replace(embedded_worker=False))  # no worker processes
    db = app.state.db
    db.init_schema()
    workers = [Worker(settings, db) for _ in range(settings.max_concurrent_jobs)]
    for i, worker in enumerate(workers):
        threading.Thread(target=worker.loop, args=(settings.scheduler_interval,), name=f"embedded-worker-{i}",
                         daemon=True).start()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
