"""A job's result files written by a process of its own, so that the job uses both cores.

A job's Python work is about half reading, predicting and checking, half turning the rows into
the workbook's XML (deflated) and the CSV (bench/RESULTS.md, the stages table).  Threads cannot
share that: the GIL lets one run Python at a time.  `ResultFilesProcess` has the interface of
`ResultFiles` (model/results/files.py) and runs a real one in a child process, fed over a
pipe: the job formats each block's numbers once (`number_json`) and sends them with the
block's texts and predictions (`Block`); the child writes both files while the job reads and
predicts the next block.

Flow control: at most `_IN_FLIGHT` blocks are sent but not yet written, so memory stays flat
and the child's errors (a full disk...) surface at the next block.  On an error in the job,
or when it is cancelled, the child is told to abort (it deletes its partial file) and is
killed if it does not answer; a child that dies takes the job down with a clear message.  If
the job's process is killed, the child sees its pipe close and deletes the partial file.

The child is a fresh interpreter (`python -m model.results.process`, about 0.15 s to import
the writer), talking over two pipes of its own: forking the job's process, which has threads (the
heartbeat, database connections), is not safe, and multiprocessing's spawn and forkserver
would import the job's main module again in the child.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from model.results.files import Block, CsvResult, ResultFiles, csv_fields

_PIPE_BYTES = 1 << 20
_IN_FLIGHT = 2  # blocks sent to the child and not yet acknowledged
_JOIN_SECONDS = 10.0  # how long a closing or aborting child may take before it is killed


_ROOT = Path(__file__).resolve().parents[2]  # the project: where `model` is imported from


class _Duplex:
    """Two one-way pipe ends as one connection (recv from one, send on the other)."""

    def __init__(self, incoming: Connection, outgoing: Connection) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    def send(self, message: Any) -> None:
        self.outgoing.send(message)

    def recv(self) -> Any:
        return self.incoming.recv()

    def poll(self, timeout: float) -> bool:
        return self.incoming.poll(timeout)

    def close(self) -> None:
        for end in (self.incoming, self.outgoing):
            try:
                end.close()
            except OSError:
                pass


def _peak_rss_mb() -> float:
    """This process's peak resident memory.  From /proc (VmHWM, of this program's memory
    alone): getrusage's ru_maxrss keeps the job process's peak from before the exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(conn: _Duplex) -> None:
    """The child: one ResultFiles driven by the parent's messages, each answered."""
    book: ResultFiles | None = None
    try:
        _, (args, options) = conn.recv()
        # This process has a core to itself (the job runs on the other): deflating in this
        # thread beats handing each block to a helper thread and waiting for the GIL back.
        book = ResultFiles(*args, **options, deflate_thread=False)
        conn.send(("ok", book.block_rows))
        while True:
            try:
                kind, payload = conn.recv()
            except EOFError:  # the job's process is gone: leave nothing behind
                book.__exit__(EOFError, EOFError(), None)
                return
            if kind == "block":
                book.write(payload)
                conn.send(("ok", None))
            elif kind == "summary":
                book.set_summary(payload)
                conn.send(("ok", None))
            elif kind == "table":
                book.add_table(*payload[0], **payload[1])
                conn.send(("ok", None))
            elif kind == "close":
                book.close()
                conn.send(("closed", {**book.figures(), "peak_rss_mb": _peak_rss_mb()}))
                return
            else:  # "abort"
                book.__exit__(RuntimeError, RuntimeError("aborted"), None)
                conn.send(("aborted", None))
                return
    except BaseException as exc:  # reported to the parent, which raises it
        if book is not None:
            book.__exit__(type(exc), exc, None)
        try:
            # The errno too: the worker puts a job whose disk is full (ENOSPC) back in the queue.
            conn.send(("error", (f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}",
                                 getattr(exc, "errno", None))))
        except (OSError, EOFError):
            pass
    finally:
        conn.close()


def _widen(pipe: int) -> None:
    """A block (a few MB) then crosses the pipe in a few writes, not one per 64 KiB page:
    Linux lets a pipe buffer grow to /proc/sys/fs/pipe-max-size (1 MiB by default)."""
    try:
        import fcntl  # POSIX; jobs use this process only there (model.predictions)

        fcntl.fcntl(pipe, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (ImportError, OSError):  # another system, or a lower limit: the default buffer works, a bit slower
        pass


class WriterProcessError(RuntimeError):
    """The workbook's process failed; the message is its error, ``errno`` that of the child's
    OSError (None for any other error)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class ResultFilesProcess:
    """`ResultFiles(xlsx_path, csv_path, header, segments, **workbook)`, the workbook in a child
    process and the CSV here: the workbook's XML and deflate are the larger half of the
    files' work, the CSV about as much as this process has left over (bench/RESULTS.md)."""

    def __init__(self, xlsx_path: str | os.PathLike, csv_path: str | os.PathLike | None, header: Sequence[str],
                 segments: list[Any], **workbook: Any) -> None:
        # Absolute: the child runs from the project's directory, not this one's.
        self.paths = [os.path.abspath(p) for p in (xlsx_path, csv_path) if p]
        self.segments = segments
        self._figures: dict[str, float] = {}
        self.peak_rss_mb = 0.0  # the child's, once closed
        self._csv_seconds = 0.0
        self.twin = CsvResult(csv_path, header) if csv_path else None
        self._in_flight = 0
        self._closed = False
        from_parent, to_child = os.pipe()  # (read end, write end)
        from_child, to_parent = os.pipe()
        _widen(to_child)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "model.results.process", str(from_parent), str(to_parent)],
                pass_fds=(from_parent, to_parent), stdin=subprocess.DEVNULL, env=env, cwd=_ROOT)
        except BaseException:
            for fd in (to_child, from_parent, from_child, to_parent):
                os.close(fd)
            self._remove_files()
            raise
        os.close(from_parent)
        os.close(to_parent)
        self._conn = _Duplex(Connection(from_child, writable=False), Connection(to_child, readable=False))
        try:
            self._send("open", ((self.paths[0], None, list(header), segments), workbook))
            self._block_rows = int(self._answer("ok"))
        except BaseException:
            self._stop()
            raise

    @property
    def block_rows(self) -> int:
        return self._block_rows

    # -- the interface of ResultFiles ---------------------------------------------------------
    def figures(self) -> dict[str, float]:
        """The child's measurements (once closed) and the CSV's."""
        return {**self._figures, "csv": self._csv_seconds}

    def write(self, block: Block) -> None:
        if self._in_flight >= _IN_FLIGHT:
            self._answer("ok")
        self._send("block", block)  # the child renders it while the CSV is made here
        self._in_flight += 1
        if self.twin:
            started = time.perf_counter()
            self.twin.write(*csv_fields(self.segments, block))
            self._csv_seconds += time.perf_counter() - started

    def set_summary(self, items: Sequence[tuple[str, str | int | float]]) -> None:
        self._call("summary", list(items))

    def add_table(self, *args: Any, **kwargs: Any) -> None:
        self._call("table", (args, kwargs))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.twin:
                self.twin.close()
            while self._in_flight:
                self._answer("ok")
            self._send("close", None)
            figures = self._answer("closed")
        except BaseException:
            self._stop()
            raise
        self._wait()
        self._conn.close()
        self.peak_rss_mb = float(figures.pop("peak_rss_mb", 0.0))
        self._figures = figures

    def __enter__(self) -> ResultFilesProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._closed = True
            self._stop()

    # -- the pipe -----------------------------------------------------------------------------
    def _call(self, kind: str, payload: Any) -> None:
        while self._in_flight:
            self._answer("ok")
        self._send(kind, payload)
        self._answer("ok")

    def _send(self, kind: str, payload: Any) -> None:
        try:
            self._conn.send((kind, payload))
        except (OSError, EOFError) as exc:
            raise self._failure() from exc

    def _answer(self, expected: str) -> Any:
        try:
            kind, payload = self._conn.recv()
        except (OSError, EOFError) as exc:
            raise self._failure() from exc
        if kind == "error":
            raise self._child_error(payload)
        if kind != expected:
            raise WriterProcessError(f"The workbook's process answered {kind!r}, not {expected!r}.")
        if expected == "ok" and self._in_flight:
            self._in_flight -= 1
        return payload

    def _wait(self) -> int | None:
        try:
            return self._process.wait(_JOIN_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def _child_error(self, payload: tuple[str, int | None]) -> WriterProcessError:
        """The error the child reported (it ends right after)."""
        self._wait()
        message, errno = payload
        return WriterProcessError(f"The workbook could not be written: {message}", errno=errno)

    def _failure(self) -> WriterProcessError:
        try:  # the child may have said why before it went
            if self._conn.poll(0):
                kind, payload = self._conn.recv()
                if kind == "error":
                    return self._child_error(payload)
        except (OSError, EOFError):
            pass
        code = self._wait()
        return WriterProcessError(f"The workbook's process ended unexpectedly (exit code {code}).")

    def _stop(self) -> None:
        """Abort: the child stops writing; killed if it does not answer.  The files go."""
        try:
            self._conn.send(("abort", None))
            deadline = time.monotonic() + _JOIN_SECONDS
            while time.monotonic() < deadline and self._conn.poll(max(0.0, deadline - time.monotonic())):
                if self._conn.recv()[0] in ("aborted", "error"):
                    break
        except (OSError, EOFError):
            pass
        self._wait()
        self._conn.close()
        self._remove_files()

    def _remove_files(self) -> None:
        if self.twin:
            self.twin.close()
        for path in self.paths:
            Path(path).unlink(missing_ok=True)


if __name__ == "__main__":  # the child: python -m model.results.process FD_IN FD_OUT
    # Ctrl-C in a terminal, or a TERM to the worker's process group, is for the job's process:
    # it stops the job at its next block and tells this one to abort (or closes the pipe).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _child(_Duplex(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)))
