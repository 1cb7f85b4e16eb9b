"""Settings: one table of keys, read from config.properties (jproperties) and the environment.

Order of precedence: environment variable ``BEYOND_<KEY>`` (prefixed, so a shell's ``$USER``
or ``$HOST`` never leaks in), then the properties file named by ``APP_CONFIG`` (default
``./config.properties``), then the default. A missing required value or a malformed one raises ``SettingsError`` naming
the key, at start-up, never later.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jproperties import Properties

ROOT = Path(__file__).resolve().parents[2]  # the project directory
ENV_PREFIX = "BEYOND_"


class SettingsError(Exception):
    """A configuration value is missing or malformed; the message names the key."""


def _int(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.replace("_", ""))
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


def _bool(raw: str) -> bool:
    # Like starlette.config: anything but an explicit yes/no is an error, not a guess.
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _size(raw: str) -> int:
    """Bytes, with an optional K/M/G suffix: '200M' -> 209715200."""
    text = raw.strip().upper().removesuffix("B")
    factor = 1
    for suffix, mult in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith(suffix):
            text, factor = text[:-1], mult
            break
    value = int(float(text) * factor)
    if value <= 0:
        raise ValueError("must be a positive size such as 200M")
    return value


def _percent(raw: str) -> float:
    value = float(raw.strip().removesuffix("%"))
    if not 0 <= value <= 100:  # also refuses nan
        raise ValueError("must be a number from 0 to 100")
    return value


def _zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {raw!r}") from exc
    return raw


def _path(raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else ROOT / path


def _str(raw: str) -> str:
    return raw


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _model_name(raw: str) -> str:
    # The same rule as app.core.registry.models.NAME_PATTERN (settings import no other module of ours).
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", raw):
        raise ValueError("must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return raw


def _public_url(raw: str) -> str:
    # Webhook payloads carry links; empty: paths relative to the server, as the API gives them.
    value = raw.strip().rstrip("/")
    if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError("must be empty or the site's address, such as https://beyond.example.com")
    return value


# One e-mail address, loosely: something@domain, no spaces and none of the characters that
# would split or quote a header (the mail server has the last word on whether it exists).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})*")


def _addresses(raw: str) -> tuple[str, ...]:
    # Comma-separated e-mail addresses; empty: none. A bad one is an error, not skipped: an
    # alert that silently goes nowhere is worse than a server that refuses to start.
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for address in found:
        if not _ADDRESS.fullmatch(address):
            raise ValueError(f"{address!r} is not an e-mail address; give addresses such as ops@example.com, "
                             "separated by commas")
    return found


def _bind(raw: str) -> str:
    # host:port of a listener; empty: none.
    value = raw.strip()
    if not value:
        return ""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be empty or HOST:PORT, such as 127.0.0.1:9100")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(raw: str) -> str:
    # uvicorn and logging both take these names; anything else used to surface as a KeyError
    # from inside uvicorn at `serve`, after the rest of the start had succeeded.
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _key(default: str | None, parse: Callable[[str], Any], help: str) -> dict[str, Any]:
    """A setting's field metadata: its default as written in the properties file (None: required),
    the parser of its text and its help line."""
    return {"default": default, "parse": parse, "help": help}


@dataclass(frozen=True)
class Settings:
    # The one table of settings, one field per key (the key is the field name in capitals): KEYS,
    # config.properties.example and the README are derived from it.
    host: str = field(metadata=_key("", _str, "MySQL/MariaDB host. Empty: use the embedded SQLite file (SQLITE_PATH)."))
    port: int = field(metadata=_key("3306", _int(1), "MySQL/MariaDB port."))
    user: str = field(metadata=_key("root", _str, "MySQL/MariaDB user."))
    password: str = field(repr=False, metadata=_key("", _str, "MySQL/MariaDB password."))
    dbname: str = field(metadata=_key("beyond", _str, "MySQL/MariaDB database (created if missing)."))
    sqlite_path: Path = field(metadata=_key("data/beyond.sqlite3", _path, "Embedded SQLite file, used when HOST is empty."))
    input_dir: Path = field(metadata=_key("data/in", _path, "Where accepted uploads are stored."))
    output_dir: Path = field(metadata=_key("data/out", _path, "Where result files (.xlsx, .csv) are written."))
    time_zone: str = field(metadata=_key("America/Montevideo", _zone, "Time zone for showing times (stored in UTC)."))
    scheduler_interval: int = field(metadata=_key("5", _int(1), "Seconds between queue polls of the embedded worker and --loop."))
    embedded_worker: bool = field(metadata=_key("true", _bool, "Run the scheduler inside the web server process."))
    model_path: Path = field(metadata=_key("model/artifacts/breast_cancer", _path,
        "Model directory holding model.joblib and schema.json: registered as DEFAULT_MODEL on first use "
        "when the model registry has no such model (later versions: python -m app deploy-model)."))
    models_dir: Path = field(metadata=_key("data/models", _path,
        "The model registry's files: every deployed version, read-only, in MODELS_DIR/NAME/VERSION/."))
    default_model: str = field(metadata=_key("breast-cancer", _model_name,
        "The registered model an upload that names none is checked against and run with."))
    model_cache_size: int = field(metadata=_key("4", _int(1),
        "Models each worker process keeps loaded (least recently used go)."))
    upload_limit: int = field(metadata=_key("200M", _size, "Largest accepted upload (K/M/G suffixes)."))
    max_concurrent_conversions: int = field(metadata=_key("2", _int(1),
        "Workbook (.xlsx, .xlsm, .ods) and Parquet uploads converted at once by one server; one more waits a few "
        "seconds for a free slot, then gets 503 with Retry-After."))
    conversion_memory_mb: int = field(metadata=_key("4096", _int(0),
        "Memory (address space, MB) of the child process that converts one workbook or Parquet upload; a file "
        "that needs more is refused (422) naming it. 0: no limit."))
    model_trial_seconds: int = field(metadata=_key("120", _int(1),
        "Seconds a deploy may take to load the model and predict a few rows in a child process before the "
        "version is registered; a model that takes longer is refused."))
    model_trial_memory_mb: int = field(metadata=_key("4096", _int(0),
        "Memory (address space, MB) of that child process; a model that needs more is refused. 0: no limit."))
    model_upload_limit: int = field(metadata=_key("500M", _size,
        "Largest model .zip an administrator may upload on the Models page or POST /api/models."))
    model_unpacked_limit: int = field(metadata=_key("2G", _size,
        "Most bytes a model .zip may unpack to (a larger one, such as a zip bomb, is refused)."))
    secret_key: str = field(repr=False, metadata=_key(None, _str, "Signs session cookies. Required; make it long and random."))
    https: bool = field(metadata=_key("false", _bool, "Site is served over HTTPS: session cookie gets the Secure flag."))
    session_hours: int = field(metadata=_key("8", _int(1), "Session lifetime in hours."))
    lease_seconds: int = field(metadata=_key("120", _int(5), "A running job whose heartbeat is older is presumed lost."))
    heartbeat_seconds: int = field(metadata=_key("10", _int(1), "How often a running job proves it is alive."))
    max_attempts: int = field(metadata=_key("3", _int(1), "Attempts before a lost job ends in ERROR."))
    max_concurrent_jobs: int = field(metadata=_key("2", _int(1), "Jobs one host processes at once."))
    chunk_rows: int = field(metadata=_key("50000", _int(100), "Rows read, predicted and written per step."))
    smtp_host: str = field(metadata=_key("", _str,
        "SMTP server for completion and data-quality alert e-mails. Empty: no e-mail."))
    smtp_port: int = field(metadata=_key("25", _int(1), "SMTP port."))
    smtp_from: str = field(metadata=_key("beyond@localhost", _str,
        "Sender address of completion and data-quality alert e-mails."))
    quality_alert_email: bool = field(metadata=_key("true", _bool,
        "E-mail the model's deployer (and QUALITY_ALERT_TO) when a job ends PROCESS OK with data-quality "
        "status alert. Needs SMTP_HOST."))
    quality_alert_to: tuple[str, ...] = field(metadata=_key("", _addresses,
        "Addresses (comma-separated) that receive every data-quality alert e-mail as well, e.g. for models "
        "deployed from the command line, which have no deployer to tell. Empty: only the deployer."))
    probability_columns: str = field(metadata=_key("best", _choice("best", "all"),
        "Classifier results: 'best' gives the predicted class's probability; 'all' adds one "
        "probability_<class> column per class."))
    max_connections: int = field(metadata=_key("200", _int(1),
        "Connections plus requests in progress the server accepts at once; more are answered 503."))
    max_connections_per_client: int = field(metadata=_key("32", _int(0),
        "Connections one client address may hold open at once; more are answered 503 and closed, so one "
        "client cannot take all of MAX_CONNECTIONS. A TRUSTED_PROXIES address is not capped. 0: no cap."))
    header_timeout_seconds: int = field(metadata=_key("10", _int(1),
        "A connection whose request headers have not all arrived within this time is closed."))
    trusted_proxies: str = field(metadata=_key("", _str,
        "Addresses of reverse proxies whose X-Forwarded-For names the real client (comma-separated). "
        "Empty: the connection's address is the client."))
    log_level: str = field(metadata=_key("INFO", _log_level, "Logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL."))
    public_url: str = field(metadata=_key("", _public_url,
        "The site's address as users reach it (https://beyond.example.com): webhook payloads carry absolute "
        "links with it. Empty: links are paths on the server."))
    webhook_allow_private: bool = field(metadata=_key("false", _bool,
        "Allow webhook URLs that resolve to loopback, private or link-local addresses (server-side request "
        "forgery: keep false unless every receiver is inside your own network)."))
    webhook_timeout_seconds: int = field(metadata=_key("10", _int(1),
        "Seconds one webhook delivery attempt may take in all (connecting, sending, the whole answer)."))
    webhook_backoff_seconds: int = field(metadata=_key("5", _int(1),
        "Wait before the first retry of a failed webhook delivery; it doubles after each failure (at most 2 h)."))
    webhook_retry_hours: int = field(metadata=_key("24", _int(24),
        "Hours a webhook delivery is retried after its event before it is given up (at least 24)."))
    metrics_bind: str = field(metadata=_key("", _bind,
        "HOST:PORT where the web server also serves /metrics without credentials, for a Prometheus on a "
        "private network (e.g. 127.0.0.1:9100). Empty: only GET /metrics for administrators."))
    result_retention_days: int = field(metadata=_key("0", _int(0),
        "Days after a job finished when the workers' sweep deletes its uploaded file and results "
        "(the job stays listed, marked expired; downloads answer 410). 0: keep files forever."))
    archive_after_days: int = field(metadata=_key("0", _int(0),
        "Days after a job finished when the workers' sweep archives it (out of the main list). 0: never."))
    max_pending_jobs_per_user: int = field(metadata=_key("0", _int(0),
        "Jobs one user may have waiting or running at once; more uploads are refused (429). 0: no limit."))
    max_storage_mb_per_user: int = field(metadata=_key("0", _int(0),
        "Megabytes of uploads and results one user may keep stored; an upload past it is refused (413). "
        "0: no limit."))
    max_bad_rows_percent: float = field(metadata=_key("1", _percent,
        "Uploads whose cells that do not fit their column (text in a number column...) lie in at most this "
        "percentage of the data rows are accepted with a warning; those rows get no prediction and a row_status "
        "saying why. 0: refuse any such cell. Missing columns and unreadable files are refused whatever it is."))

    @property
    def uses_mysql(self) -> bool:
        return bool(self.host)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


@dataclass(frozen=True)
class Key:
    """A setting as config.properties and the environment name it, derived from its Settings field."""

    name: str
    default: str | None
    parse: Callable[[str], Any]
    help: str


KEYS: tuple[Key, ...] = tuple(Key(f.name.upper(), **f.metadata) for f in fields(Settings))


def value_text(value: Any) -> str:
    """A parsed value as a properties/environment value that parses back to it (what the
    supervisor hands its worker processes): booleans as true/false, address lists joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def read_properties(path: Path) -> dict[str, str]:
    props = Properties()
    with open(path, "rb") as fh:
        props.load(fh, "utf-8")
    return {key: value.data for key, value in props.items()}


def load_settings(
    config_path: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from (highest first) overrides, environment, properties file, defaults."""
    environ = os.environ if environ is None else environ
    path = Path(config_path or environ.get("APP_CONFIG") or ROOT / "config.properties")
    from_file: dict[str, str] = {}
    if path.exists():
        try:
            from_file = read_properties(path)
        except Exception as exc:  # jproperties raises several types on bad syntax
            raise SettingsError(f"{path}: cannot read properties file: {exc}") from exc
    elif config_path or environ.get("APP_CONFIG"):
        raise SettingsError(f"APP_CONFIG: file {path} does not exist")

    known = {key.name for key in KEYS}
    unknown = sorted(set(from_file) - known)
    if unknown:
        raise SettingsError(f"{path}: unknown key(s) {', '.join(unknown)}; see config.properties.example")

    values: dict[str, Any] = {}
    for key in KEYS:
        raw = None
        source = "default"
        if overrides and key.name in overrides:
            raw, source = overrides[key.name], "override"
        elif ENV_PREFIX + key.name in environ:
            raw, source = environ[ENV_PREFIX + key.name], f"environment variable {ENV_PREFIX}{key.name}"
        elif key.name in from_file:
            raw, source = from_file[key.name], str(path)
        else:
            raw = key.default
        if raw is None:
            raise SettingsError(
                f"{key.name} is required ({key.help}) - set it in {path} or as {ENV_PREFIX}{key.name}"
            )
        try:
            values[key.name.lower()] = key.parse(raw.strip() if key.parse is not _str else raw)
        except ValueError as exc:
            raise SettingsError(f"{key.name}={raw!r} from {source} is malformed: {exc}") from exc
    if len(values["secret_key"]) < 16:
        raise SettingsError("SECRET_KEY must be at least 16 characters long")
    return Settings(**values)


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def example_properties() -> str:
    """The text of config.properties.example, generated from KEYS so docs never drift."""
    lines = [
        "# Beyond configuration (Java .properties syntax, read with jproperties).",
        "# Copy to config.properties, or point APP_CONFIG at your file.",
        f"# Every key can be overridden by the environment variable {ENV_PREFIX}<KEY>.",
        "",
    ]
    for key in KEYS:
        lines.append(f"# {key.help}")
        if key.default is None:
            lines.append(f"{key.name}=change-me-to-a-long-random-string")
        else:
            lines.append(f"{key.name}={key.default}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    # python -m app.core.settings > config.properties.example
    print(example_properties(), end="")
