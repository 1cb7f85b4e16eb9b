"""One log line per event, as logfmt (key=value), which log tools parse without rules."""

from __future__ import annotations

import logging
import re
import time
from typing import Any


def _value(value: Any) -> str:
    text = "" if value is None else str(value)
    if text == "" or any(c in text for c in ' "=\\\n\t\r'):
        # \r too: a raw carriage return would end the line for some log shippers
        for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
            text = text.replace(raw, escaped)
        text = f'"{text}"'
    return text


def logfmt(event: str, **fields: Any) -> str:
    return " ".join([f"event={_value(event)}"] + [f"{k}={_value(v)}" for k, v in fields.items()])


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, logfmt(event, **fields))


# A query parameter whose name says it carries a credential (token, access_token, api_key,
# password, secret, ...). The API reads credentials from headers only, but a client may still
# put one in the URL, and uvicorn's access log prints every URL.
_SECRET_PARAM = re.compile(r"(?i)([?&][^=&\s]*(?:token|key|pass|secret|auth)[^=&\s]*=)[^&\s]*")


def redact_url(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Blanks credential-looking query parameters in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True


def setup_logging(level: str = "INFO") -> None:
    # time as one token (ISO 8601, UTC, no space): "time=2024-05-01 12:00:00,123" would split
    # into two fields for a logfmt parser.
    formatter = logging.Formatter(
        "time=%(asctime)s.%(msecs)03dZ level=%(levelname)s logger=%(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    # mysql-connector logs its auth plugin loading at INFO on every new connection: noise.
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)
    # uvicorn's own logging setup (run after this) replaces handlers but keeps logger filters.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
