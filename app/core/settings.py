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


@dataclass(frozen=True)
class Key:
    name: str
    default: str | None
    parse: Callable[[str], Any]
    help: str


# The one table of settings: config.properties.example and the README are written from it.
KEYS: tuple[Key, ...] = (
    Key("HOST", "", _str, "MySQL/MariaDB host. Empty: use the embedded SQLite file (SQLITE_PATH)."),
    Key("PORT", "3306", _int(1), "MySQL/MariaDB port."),
    Key("USER", "root", _str, "MySQL/MariaDB user."),
    Key("PASSWORD", "", _str, "MySQL/MariaDB password."),
    Key("DBNAME", "beyond", _str, "MySQL/MariaDB database (created if missing)."),
    Key("SQLITE_PATH", "data/beyond.sqlite3", _path, "Embedded SQLite file, used when HOST is empty."),
    Key("INPUT_DIR", "data/in", _path, "Where accepted uploads are stored."),
    Key("OUTPUT_DIR", "data/out", _path, "Where result files (.xlsx, .csv) are written."),
    Key("TIME_ZONE", "America/Montevideo", _zone, "Time zone for showing times (stored in UTC)."),
    Key("SCHEDULER_INTERVAL", "5", _int(1), "Seconds between queue polls of the embedded worker and --loop."),
    Key("EMBEDDED_WORKER", "true", _bool, "Run the scheduler inside the web server process."),
    Key("MODEL_PATH", "model/artifacts/breast_cancer", _path,
        "Model directory holding model.joblib and schema.json: registered as DEFAULT_MODEL on first use "
        "when the model registry has no such model (later versions: python -m app deploy-model)."),
    Key("MODELS_DIR", "data/models", _path,
        "The model registry's files: every deployed version, read-only, in MODELS_DIR/NAME/VERSION/."),
    Key("DEFAULT_MODEL", "breast-cancer", _model_name,
        "The registered model an upload that names none is checked against and run with."),
    Key("MODEL_CACHE_SIZE", "4", _int(1), "Models each worker process keeps loaded (least recently used go)."),
    Key("UPLOAD_LIMIT", "200M", _size, "Largest accepted upload (K/M/G suffixes)."),
    Key("MODEL_UPLOAD_LIMIT", "500M", _size,
        "Largest model .zip an administrator may upload on the Models page or POST /api/models."),
    Key("MODEL_UNPACKED_LIMIT", "2G", _size,
        "Most bytes a model .zip may unpack to (a larger one, such as a zip bomb, is refused)."),
    Key("SECRET_KEY", None, _str, "Signs session cookies. Required; make it long and random."),
    Key("HTTPS", "false", _bool, "Site is served over HTTPS: session cookie gets the Secure flag."),
    Key("SESSION_HOURS", "8", _int(1), "Session lifetime in hours."),
    Key("LEASE_SECONDS", "120", _int(5), "A running job whose heartbeat is older is presumed lost."),
    Key("HEARTBEAT_SECONDS", "10", _int(1), "How often a running job proves it is alive."),
    Key("MAX_ATTEMPTS", "3", _int(1), "Attempts before a lost job ends in ERROR."),
    Key("MAX_CONCURRENT_JOBS", "2", _int(1), "Jobs one host processes at once."),
    Key("CHUNK_ROWS", "50000", _int(100), "Rows read, predicted and written per step."),
    Key("SMTP_HOST", "", _str, "SMTP server for completion and data-quality alert e-mails. Empty: no e-mail."),
    Key("SMTP_PORT", "25", _int(1), "SMTP port."),
    Key("SMTP_FROM", "beyond@localhost", _str, "Sender address of completion and data-quality alert e-mails."),
    Key("QUALITY_ALERT_EMAIL", "true", _bool,
        "E-mail the model's deployer (and QUALITY_ALERT_TO) when a job ends PROCESS OK with data-quality "
        "status alert. Needs SMTP_HOST."),
    Key("QUALITY_ALERT_TO", "", _addresses,
        "Addresses (comma-separated) that receive every data-quality alert e-mail as well, e.g. for models "
        "deployed from the command line, which have no deployer to tell. Empty: only the deployer."),
    Key("PROBABILITY_COLUMNS", "best", _choice("best", "all"),
        "Classifier results: 'best' gives the predicted class's probability; 'all' adds one "
        "probability_<class> column per class."),
    Key("MAX_CONNECTIONS", "200", _int(1),
        "Connections plus requests in progress the server accepts at once; more are answered 503."),
    Key("HEADER_TIMEOUT_SECONDS", "10", _int(1),
        "A connection whose request headers have not all arrived within this time is closed."),
    Key("TRUSTED_PROXIES", "", _str,
        "Addresses of reverse proxies whose X-Forwarded-For names the real client (comma-separated). "
        "Empty: the connection's address is the client."),
    Key("LOG_LEVEL", "INFO", _log_level, "Logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Key("PUBLIC_URL", "", _public_url,
        "The site's address as users reach it (https://beyond.example.com): webhook payloads carry absolute "
        "links with it. Empty: links are paths on the server."),
    Key("WEBHOOK_ALLOW_PRIVATE", "false", _bool,
        "Allow webhook URLs that resolve to loopback, private or link-local addresses (server-side request "
        "forgery: keep false unless every receiver is inside your own network)."),
    Key("WEBHOOK_TIMEOUT_SECONDS", "10", _int(1),
        "Seconds a webhook receiver gets to connect and to answer each read of one delivery attempt."),
    Key("WEBHOOK_BACKOFF_SECONDS", "5", _int(1),
        "Wait before the first retry of a failed webhook delivery; it doubles after each failure (at most 2 h)."),
    Key("WEBHOOK_RETRY_HOURS", "24", _int(24),
        "Hours a webhook delivery is retried after its event before it is given up (at least 24)."),
    Key("METRICS_BIND", "", _bind,
        "HOST:PORT where the web server also serves /metrics without credentials, for a Prometheus on a "
        "private network (e.g. 127.0.0.1:9100). Empty: only GET /metrics for administrators."),
    Key("RESULT_RETENTION_DAYS", "0", _int(0),
        "Days after a job finished when the workers' sweep deletes its uploaded file and results "
        "(the job stays listed, marked expired; downloads answer 410). 0: keep files forever."),
    Key("ARCHIVE_AFTER_DAYS", "0", _int(0),
        "Days after a job finished when the workers' sweep archives it (out of the main list). 0: never."),
    Key("MAX_PENDING_JOBS_PER_USER", "0", _int(0),
        "Jobs one user may have waiting or running at once; more uploads are refused (429). 0: no limit."),
    Key("MAX_STORAGE_MB_PER_USER", "0", _int(0),
        "Megabytes of uploads and results one user may keep stored; an upload past it is refused (413). "
        "0: no limit."),
    Key("MAX_BAD_ROWS_PERCENT", "1", _percent,
        "Uploads whose cells that do not fit their column (text in a number column...) lie in at most this "
        "percentage of the data rows are accepted with a warning; those rows get no prediction and a row_status "
        "saying why. 0: refuse any such cell. Missing columns and unreadable files are refused whatever it is."),
)


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    sqlite_path: Path
    input_dir: Path
    output_dir: Path
    time_zone: str
    scheduler_interval: int
    embedded_worker: bool
    model_path: Path
    models_dir: Path
    default_model: str
    model_cache_size: int
    upload_limit: int
    model_upload_limit: int
    model_unpacked_limit: int
    secret_key: str = field(repr=False)
    https: bool
    session_hours: int
    lease_seconds: int
    heartbeat_seconds: int
    max_attempts: int
    max_concurrent_jobs: int
    chunk_rows: int
    smtp_host: str
    smtp_port: int
    smtp_from: str
    probability_columns: str
    max_connections: int
    header_timeout_seconds: int
    trusted_proxies: str
    log_level: str
    public_url: str
    webhook_allow_private: bool
    webhook_timeout_seconds: int
    webhook_backoff_seconds: int
    webhook_retry_hours: int
    metrics_bind: str
    result_retention_days: int = 0
    archive_after_days: int = 0
    max_pending_jobs_per_user: int = 0
    max_storage_mb_per_user: int = 0
    max_bad_rows_percent: float = 1.0
    quality_alert_email: bool = True
    quality_alert_to: tuple[str, ...] = ()

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
