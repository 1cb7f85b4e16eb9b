"""A model's own error messages, made fit to show: one line, shortened at a word boundary,
without the server's paths.

A model raises whatever its library raises: a traceback-like text over several lines, a
message of thousands of characters (LightGBM lists every category), paths of the server's
files.  Users see the first line, cut at a word boundary with an ellipsis, and a path
reduced to its last part (the file's name says what went wrong; the folders say nothing to
a user and much to an attacker).
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
ERROR_CHARS = 200  # a model's error in a row_status
# An absolute POSIX path of at least two parts, not inside a URL ("http://host/a/b" keeps its
# path: the character before it is not a space, quote or bracket).
_PATH = re.compile(r"(?<![\w:/.-])(?:/[\w.+@-]+){2,}/?")


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: cut at the last space before the limit (mid-word
    only when a single word is longer than half the limit), with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    cut = text.rfind(" ", 0, room + 1)
    if cut < room // 2:
        cut = room
    return text[:cut].rstrip(" ,;:") + ELLIPSIS


def without_paths(text: str) -> str:
    """Absolute paths in `text` reduced to their last part ("/srv/models/x/model.joblib" ->
    "model.joblib")."""
    return _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def error_text(exc: BaseException, limit: int = 300) -> str:
    """An exception as a user sees it: "ValueError: first line of its message", no server
    paths, at most `limit` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = without_paths(lines[0]) if lines else ""
    return shorten(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, limit)
