"""One log line per event, as logfmt (key=value), which log tools parse without rules."""

from __future__ import annotations

import logging
from typing import Any


def _value(value: Any) -> str:
    text = "" if value is None else str(value)
    if text == "" or any(c in text for c in ' "=\\\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    return text


def logfmt(event: str, **fields: Any) -> str:
    return " ".join([f"event={_value(event)}"] + [f"{k}={_value(v)}" for k, v in fields.items()])


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, logfmt(event, **fields))


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
