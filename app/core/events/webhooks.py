"""Webhooks: signed HTTP deliveries when a job ends, following the Standard Webhooks
specification (https://www.standardwebhooks.com: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` headers, signed with the ``standardwebhooks`` package).

The path of one event:

1. ``enqueue_job_event`` writes one outbox row (``webhook_deliveries``) per interested webhook,
   inside the transaction that gives the job its final state (app/core/jobs/queue.py): the event is
   stored if and only if the state change is, and nothing is sent from there.
2. The workers (scheduler/deliveries.py: a thread of every long-lived worker, and a short pass
   after each cron run; never the web server) run ``Deliverer.run_pass``: SENDERS threads
   each lease one due row at a time, just before sending it (a guarded UPDATE, so one host
   sends it; the attempt is counted then, so one cut short by a dying worker still counts),
   send it within WEBHOOK_TIMEOUT_SECONDS for the whole attempt (shorter than the lease), log
   the attempt (status code, duration), and mark the row delivered, or give it a next attempt
   with exponential backoff until WEBHOOK_RETRY_HOURS have passed since the event or
   MAX_ATTEMPTS were made. A slow receiver holds one sender for at most the deadline: never a
   job, and never the deliveries to other receivers.

Server-side request forgery: a URL whose host resolves to a loopback, private, link-local or
otherwise non-global address is refused (an IPv6 address that embeds an IPv4 one, NAT64, 6to4,
IPv4-compatible or -translated, is judged by the IPv4 address; site-local fec0::/10 is refused),
at registration and again at every delivery against the address actually connected to (a DNS
answer that changed since registration, "DNS rebinding", is caught), unless
WEBHOOK_ALLOW_PRIVATE=true. Redirects are never followed: a
3xx is a failed attempt.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook as Signer

from app.core.accounts.users import User
from app.core.db import Database, DatabaseUnavailable, Row, Transaction, db_time_text, parse_time
from app.core.errors import InvalidRequest, NotFound, PermissionDenied
from app.core.events import audit, metrics
from app.core.events.audit import Actor
from app.core.jobs.records import Job, job_from_row
from app.core.logfmt import log_event
from app.core.settings import Settings

log = logging.getLogger("beyond.webhooks")

JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, JOB_QUALITY_ALERT = (
    "job.succeeded", "job.failed", "job.cancelled", "job.quality_alert")
EVENTS = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, JOB_QUALITY_ALERT)
SECRET_PREFIX = "whsec_"
MAX_URL = 2000
MAX_WEBHOOKS_PER_USER = 20
BACKOFF_CAP_SECONDS = 2 * 3600  # retries at least every 2 hours once the backoff has grown
RESPONSE_BYTES_READ = 1024  # of a receiver's answer body: only its status matters
SENDERS = 4  # deliveries one pass sends at once: a slow receiver holds one of them, not the others
LEASE_MARGIN_SECONDS = 30  # beyond the attempt's deadline: time to record its outcome
MAX_ATTEMPTS = 50  # a bound even if workers keep dying mid-attempt (the default schedule makes ~22)


@dataclass(frozen=True)
class Webhook:
    id: int
    owner_id: int
    owner_name: str | None
    is_global: bool
    url: str
    events: tuple[str, ...]
    created_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "events": list(self.events), "global": self.is_global,
            "owner": self.owner_name, "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime | None
    status_code: int | None
    duration_ms: int
    error: str | None
    worker: str


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    job_id: int | None
    event: str
    message_id: str
    state: str  # pending, delivered, failed
    attempts: int
    created_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None
    last_status: int | None
    last_error: str | None
    log: tuple[Attempt, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id, "event": self.event, "job_id": self.job_id, "message_id": self.message_id,
            "state": self.state, "attempts": self.attempts, "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at) if self.state == "pending" else None,
            "finished_at": iso(self.finished_at), "last_status": self.last_status, "last_error": self.last_error,
            "log": [{"at": iso(a.attempted_at), "status_code": a.status_code, "duration_ms": a.duration_ms,
                     "error": a.error} for a in self.log],
        }


def webhook_from_row(row: Row) -> Webhook:
    return Webhook(
        id=int(row["id"]), owner_id=int(row["owner_id"]), owner_name=row.get("owner_name"),
        is_global=bool(row["is_global"]), url=row["url"],
        events=tuple(e for e in row["events"].split(",") if e), created_at=parse_time(row["created_at"]),
    )


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# -- where a URL may point ------------------------------------------------------------------------
class UrlRefused(InvalidRequest):
    """A webhook URL that is malformed or points somewhere it may not (SSRF)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query


def parse_url(url: str) -> Target:
    """The parts of an http(s) URL; UrlRefused naming the problem otherwise."""
    if not url or len(url) > MAX_URL:
        raise UrlRefused(f"url must be an http:// or https:// address of at most {MAX_URL} characters.",
                         extra={"parameter": "url"})
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UrlRefused("url must not contain spaces or control characters.", extra={"parameter": "url"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"url must start with http:// or https:// (got {parts.scheme or 'no scheme'}).",
                         extra={"parameter": "url"})
    if parts.username or parts.password:
        raise UrlRefused("url must not carry a user name or password; the signature authenticates deliveries.",
                         extra={"parameter": "url"})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UrlRefused(f"url has a malformed port: {exc}.", extra={"parameter": "url"}) from exc
    if not parts.hostname:
        raise UrlRefused("url has no host name.", extra={"parameter": "url"})
    if parts.fragment:
        raise UrlRefused("url must not have a #fragment.", extra={"parameter": "url"})
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path)


# IPv6 ranges whose last 32 bits are an IPv4 address that the packet reaches (through a
# translator or on this host); Python calls most of them global whatever they embed.
_EMBEDS_IPV4_LAST = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible, deprecated (includes :: and ::1)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (RFC 2765)
)
# Never public: local-use NAT64 (RFC 8215, the IPv4 part may sit anywhere in it), and site-local.
_NEVER_PUBLIC = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64, compatible, translated)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _EMBEDS_IPV4_LAST):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER_PUBLIC):
            return False
        ip = embedded_ipv4(ip) or ip  # ::ffff:127.0.0.1, 2002:7f00:1::, 64:ff9b::7f00:1 are loopback
    return ip.is_global and not ip.is_multicast


def _lookup(host: str, port: int, seconds: float | None) -> list[Any]:
    """getaddrinfo, given up after ``seconds`` (a delivery's deadline covers the lookup too;
    the resolver's own timeouts can be far longer). The abandoned lookup ends on its own."""
    if seconds is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    lookup = threading.Thread(target=run, name="webhook-lookup", daemon=True)
    lookup.start()
    lookup.join(seconds)
    if lookup.is_alive():
        raise TimeoutError(f"no answer within {seconds:.1f} s")
    if "error" in box:
        raise box["error"]
    return list(box["infos"])


def resolve(target: Target, allow_private: bool, within: float | None = None) -> list[str]:
    """The addresses the host resolves to, every one checked; UrlRefused when the name does
    not resolve (within ``within`` seconds, if given) or (unless allow_private) any address is
    not a public one."""
    try:
        infos = _lookup(target.host, target.port, within)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UrlRefused(f"url's host {target.host} does not resolve ({exc}).", extra={"parameter": "url"}) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UrlRefused(
                f"url's host {target.host} resolves to {', '.join(refused)}, a loopback, private or link-local "
                "address: webhooks may only call public addresses (an administrator can allow others with "
                "WEBHOOK_ALLOW_PRIVATE=true).", extra={"parameter": "url"})
    return addresses


# -- registration -----------------------------------------------------------------------------------
def parse_events(events: Any) -> tuple[str, ...]:
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",")]
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidRequest(f"events must be a non-empty list of: {', '.join(EVENTS)}.",
                             extra={"parameter": "events"})
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise InvalidRequest(f"events: unknown event {unknown[0]!r}; known events: {', '.join(EVENTS)}.",
                             extra={"parameter": "events"})
    return tuple(e for e in EVENTS if e in events)  # the canonical order, no duplicates


class Webhooks:
    """Registering, listing and removing webhooks, and reading their delivery log."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    def create(self, user: User, url: str, events: Any, is_global: bool = False,
               actor: Actor | None = None) -> tuple[Webhook, str]:
        """A new webhook and its secret (returned here only: shown once); recorded in the audit
        log with it, in one transaction."""
        if is_global and not user.is_admin:
            raise PermissionDenied("Only administrators can add global webhooks (they hear every user's jobs).")
        wanted = parse_events(events)
        resolve(parse_url(url.strip() if isinstance(url, str) else ""), self.settings.webhook_allow_private)
        secret = new_secret()
        with self.db.transaction() as tx:
            # Counted under the owner's lock, in the transaction that inserts: parallel creates
            # queue here, so the cap holds.
            tx.one("webhook_owner_lock", {"owner_id": user.id})
            owned = tx.one("webhooks_owned_count", {"owner_id": user.id})
            if owned is not None and int(owned["n"]) >= MAX_WEBHOOKS_PER_USER:
                raise InvalidRequest(f"You have {MAX_WEBHOOKS_PER_USER} webhooks, the most one user may have; "
                                     "delete one first.")
            webhook_id = tx.insert("webhook_insert", {
                "owner_id": user.id, "is_global": int(is_global), "url": url.strip(), "events": ",".join(wanted),
                "secret": secret,
            })
            audit.record(tx, actor or Actor.of(user, ""), audit.WEBHOOK_CREATE, "webhook", webhook_id,
                         f"{'global ' if is_global else ''}{url.strip()} ({','.join(wanted)})")
        hook = self.get(webhook_id)
        assert hook is not None
        log_event(log, "webhook.created", webhook=hook.id, user=user.username, url=hook.url,
                  events=",".join(wanted), scope="global" if is_global else "user")
        return hook, secret

    def get(self, webhook_id: int) -> Webhook | None:
        row = self.db.one("webhook_get", {"id": webhook_id})
        return webhook_from_row(row) if row else None

    def list_for(self, user: User, include_global: bool = True) -> list[Webhook]:
        """The user's own webhooks; for administrators the global ones too."""
        rows = self.db.all("webhooks_visible", {"owner_id": user.id,
                                                "include_global": int(include_global and user.is_admin)})
        return [webhook_from_row(r) for r in rows]

    def visible(self, webhook_id: int, user: User) -> Webhook:
        """The webhook if this user may see it (its owner; an administrator for a global one),
        else NotFound (the same answer as no such webhook, so ids leak nothing)."""
        hook = self.get(webhook_id)
        if hook is None or not (hook.owner_id == user.id or (user.is_admin and hook.is_global)):
            raise NotFound(f"There is no webhook {webhook_id} (or it is someone else's).", extra={"id": webhook_id})
        return hook

    def delete(self, webhook_id: int, user: User, actor: Actor | None = None) -> Webhook:
        """Remove it with its pending deliveries and their log (the audit log keeps its entry)."""
        hook = self.visible(webhook_id, user)
        with self.db.transaction() as tx:
            if tx.execute("webhook_delete", {"id": hook.id}) != 1:
                raise NotFound(f"There is no webhook {webhook_id}.", extra={"id": webhook_id})
            audit.record(tx, actor or Actor.of(user, ""), audit.WEBHOOK_DELETE, "webhook", hook.id, hook.url)
        log_event(log, "webhook.deleted", webhook=hook.id, user=user.username)
        return hook

    def deliveries(self, webhook_id: int, limit: int = 20) -> list[Delivery]:
        """The newest deliveries of a webhook, each with its attempts."""
        rows = self.db.all("deliveries_of_webhook", {"webhook_id": webhook_id, "limit": int(limit)})
        if not rows:
            return []
        attempts: dict[int, list[Attempt]] = {}
        lowest = min(int(r["id"]) for r in rows)
        for a in self.db.all("attempts_of_webhook", {"webhook_id": webhook_id, "min_delivery_id": lowest}):
            attempts.setdefault(int(a["delivery_id"]), []).append(Attempt(
                attempted_at=parse_time(a["attempted_at"]), status_code=a["status_code"],
                duration_ms=int(a["duration_ms"]), error=a["error"], worker=a["worker"]))
        return [Delivery(
            id=int(r["id"]), webhook_id=int(r["webhook_id"]), job_id=None if r["job_id"] is None else int(r["job_id"]),
            event=r["event"], message_id=r["message_id"], state=r["state"], attempts=int(r["attempts"]),
            created_at=parse_time(r["created_at"]), next_attempt_at=parse_time(r["next_attempt_at"]),
            finished_at=parse_time(r["finished_at"]), last_status=r["last_status"], last_error=r["last_error"],
            log=tuple(attempts.get(int(r["id"]), [])),
        ) for r in rows]


# -- the outbox: written by the core, in the caller's transaction ---------------------------------------
def job_links(job: Job) -> dict[str, str | None]:
    """Paths on the server (the same as the API's job links), made absolute with PUBLIC_URL
    when each delivery is sent."""
    ready = job.status.value == "PROCESS OK" and bool(job.path_result)
    base = f"/api/jobs/{job.id}"
    return {
        "self": base,
        "result": f"{base}/result" if ready else None,
        "result_csv": f"{base}/result?format=csv" if ready and job.path_result_csv else None,
        "panel": "/jobs",
    }


def event_body(event: str, job: Job, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    shown = job.as_dict()
    data: dict[str, Any] = {
        "job": {k: shown[k] for k in ("id", "owner", "file_name", "status", "model", "model_version", "rows_total",
                                      "rows_done", "error", "uploaded_at", "started_at", "finished_at",
                                      "duration_seconds")},
        "links": job_links(job),
    }
    if job.failed_by:  # job.failed: whose fault ("model", "file", "service"), so a program can tell
        data["failed_by"] = job.failed_by
    if extra:
        data.update(extra)
    when = job.date_result or datetime.now(UTC)
    return {"type": event, "timestamp": when.isoformat(), "data": data}


def enqueue_job_event(tx: Transaction, job_id: int, event: str, extra: dict[str, Any] | None = None) -> int:
    """Write ``event`` about the job to the outbox of every webhook that wants it (the job's
    owner's and the global ones), inside ``tx``: call it in the transaction that makes the
    change the event reports. Returns the number of deliveries written."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    row = tx.one("job_get", {"id": job_id})
    if row is None:
        return 0
    hooks = [h for h in tx.all("webhooks_for_job_owner", {"owner_id": row["owner_id"]})
             if event in h["events"].split(",")]
    if not hooks:
        return 0
    payload = json.dumps(event_body(event, job_from_row(row), extra), separators=(",", ":"), ensure_ascii=False)
    for hook in hooks:
        tx.insert("delivery_insert", {"webhook_id": hook["id"], "job_id": job_id, "event": event,
                                      "message_id": f"msg_{uuid.uuid4().hex}", "payload": payload})
    return len(hooks)


def enqueue_quality_alert(tx: Transaction, job_id: int, alert: dict[str, Any]) -> int:
    """For the quality report: ``alert`` (what was found, e.g. {"metric": ..., "value": ...,
    "threshold": ...}) is sent as ``data.alert`` next to the job."""
    return enqueue_job_event(tx, job_id, JOB_QUALITY_ALERT, {"alert": alert})


# -- sending (the workers) ---------------------------------------------------------------------------------
class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to a fresh lookup of the name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        # The certificate is checked against the URL's host name (SNI too), as usual.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def absolute_links(body: dict[str, Any], public_url: str) -> dict[str, Any]:
    links = body.get("data", {}).get("links")
    if public_url and isinstance(links, dict):
        body["data"]["links"] = {k: (public_url + v if isinstance(v, str) and v.startswith("/") else v)
                                 for k, v in links.items()}
    return body


def signed_request(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    when = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, when, body),
        "content-type": "application/json",
    }


def send(settings: Settings, url: str, headers: dict[str, str], body: str) -> Outcome:
    """One POST: the host resolved and checked now, the connection made to that address,
    redirects not followed, and the whole attempt (lookup, connect, send, every read) ended at
    WEBHOOK_TIMEOUT_SECONDS: socket timeouts alone bound each read, so a receiver trickling a
    byte a second would hold it for ever; a timer shuts the socket at the deadline. Never raises."""
    started = time.monotonic()
    limit = float(settings.webhook_timeout_seconds)

    def left() -> float:
        return max(0.001, limit - (time.monotonic() - started))

    def done(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, error[:1000] if error else None, int((time.monotonic() - started) * 1000))

    try:
        target = parse_url(url)
        address = resolve(target, settings.webhook_allow_private, within=limit)[0]
    except UrlRefused as exc:
        return done(None, f"refused: {exc.message}")
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target.host, address, target.port, left())
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        sock = conn.sock
        if sock is not None:
            try:  # wakes the read or write blocked on it in the sending thread; the plain
                # socket's shutdown, as SSLSocket's would first unhook its TLS state under that read
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(left(), cut_off)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if cut.is_set():  # the deadline passed while connecting, before the timer could see the socket
            raise TimeoutError("deadline")
        conn.request("POST", target.path, body=body.encode("utf-8"),
                     headers={**headers, "user-agent": "Beyond-Webhooks"})
        response = conn.getresponse()
        status = response.status
        try:
            response.read(RESPONSE_BYTES_READ)
        except (OSError, http.client.HTTPException):
            pass  # the status is the answer; the body is read only to let the receiver finish
        if 300 <= status < 400:
            return done(status, f"redirect to {response.getheader('location', '?')[:200]} not followed")
        return done(status, None if 200 <= status < 300 else f"HTTP {status} {response.reason}"[:200])
    except (OSError, http.client.HTTPException) as exc:
        if cut.is_set():
            return done(None, f"timed out: no complete answer within {limit:g} s (WEBHOOK_TIMEOUT_SECONDS)")
        return done(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        timer.cancel()
        conn.close()


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Delay after the ``attempts``-th failed attempt: WEBHOOK_BACKOFF_SECONDS doubling each time,
    at most BACKOFF_CAP_SECONDS."""
    return float(min(BACKOFF_CAP_SECONDS, settings.webhook_backoff_seconds * 2 ** max(0, attempts - 1)))


class Deliverer:
    """Sends due outbox rows. Any number of workers on any number of hosts may run passes at
    once: each row is leased by one (the guarded UPDATE decides) just before it is sent, and a
    lease older than the attempt's deadline plus a margin is presumed lost with its worker and
    may be taken over (the lost attempt stays counted)."""

    def __init__(self, settings: Settings, db: Database, worker_id: str) -> None:
        self.settings, self.db, self.worker_id = settings, db, worker_id
        self.lease_seconds = settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS

    def lease_due(self, limit: int = 1) -> list[tuple[int, str]]:
        """Lease up to ``limit`` due deliveries (each counted as attempted). A delivery whose
        last allowed attempt was lost with its worker is marked failed instead."""
        token = uuid.uuid4().hex
        won = []
        params = {"lease_seconds": self.lease_seconds, "limit": int(limit)}
        with self.db.transaction() as tx:
            for row in tx.all("deliveries_due", params):
                if row["leased_at"] is not None and int(row["attempts"]) >= MAX_ATTEMPTS:
                    tx.execute("delivery_give_up_lost", {
                        **params, "id": row["id"],
                        "error": f"gave up after {MAX_ATTEMPTS} attempts; the last one never reported back "
                                 "(its worker stopped during it)"})
                    metrics.add(tx, "webhook_deliveries", 1, outcome="gave_up")
                    continue
                if tx.execute("delivery_lease", {**params, "id": row["id"], "worker": self.worker_id,
                                                 "token": token}) == 1:
                    won.append((int(row["id"]), token))
        return won

    def run_pass(self, budget_seconds: float | None = None, stop: Any = None,
                 idle_seconds: float | None = None) -> int:
        """Send due deliveries with SENDERS threads, each leasing one at a time, until none is
        due (or, with ``idle_seconds``, looking again that often), the budget is spent or
        ``stop`` (a threading.Event) is set; an attempt under way is finished (it ends by its
        deadline). Returns how many attempts were made."""
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        made = [0]
        count = threading.Lock()

        def over() -> bool:
            return (stop is not None and stop.is_set()) or (deadline is not None and time.monotonic() > deadline)

        def sender() -> None:
            try:
                while not over():
                    try:
                        leased = self.lease_due()
                    except DatabaseUnavailable as exc:
                        log_event(log, "webhook.pass_database_unavailable", logging.WARNING,
                                  worker=self.worker_id, error=exc)
                        leased = []
                    if not leased:
                        if idle_seconds is None:
                            return
                        if stop is not None:
                            stop.wait(idle_seconds)
                        else:
                            time.sleep(idle_seconds)
                        continue
                    try:
                        self.attempt(*leased[0])
                    except DatabaseUnavailable as exc:
                        # The lease runs out and the delivery is sent again (the attempt stays counted).
                        log_event(log, "webhook.outcome_not_recorded", logging.WARNING, worker=self.worker_id,
                                  delivery=leased[0][0], error=exc)
                    with count:
                        made[0] += 1
            except Exception:
                log.exception("webhook sender failed")
            finally:
                self.db.close()  # this thread's connection

        senders = [threading.Thread(target=sender, name=f"webhook-sender-{n}", daemon=True) for n in range(SENDERS)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        return made[0]

    def attempt(self, delivery_id: int, token: str) -> Outcome | None:
        row = self.db.one("delivery_for_send", {"id": delivery_id, "token": token})
        if row is None:  # deleted with its webhook meanwhile, or the lease was taken over
            return None
        body = json.dumps(absolute_links(json.loads(row["payload"]), self.settings.public_url),
                          separators=(",", ":"), ensure_ascii=False)
        outcome = send(self.settings, row["url"], signed_request(row["secret"], row["message_id"], body), body)
        attempts = int(row["attempts"])  # this one included: counted when it was leased
        now, created = parse_time(row["now"]) or datetime.now(UTC), parse_time(row["created_at"]) or datetime.now(UTC)
        window_end = created + timedelta(hours=self.settings.webhook_retry_hours)
        next_at = None
        if outcome.ok:
            state, result = "delivered", "delivered"
        else:
            # Elapsed time counts from the attempt's start (the database time read before it).
            later = now + timedelta(seconds=outcome.duration_ms / 1000 + backoff_seconds(self.settings, attempts))
            if now >= window_end or attempts >= MAX_ATTEMPTS:
                state, result = "failed", "gave_up"
            else:
                # The last retry falls at the end of the window, so retries span all of it.
                state, result, next_at = "pending", "failed", db_time_text(min(later, window_end))
        with self.db.transaction() as tx:
            fenced = tx.execute("delivery_done", {
                "id": delivery_id, "token": token, "state": state, "next_attempt_at": next_at,
                "status_code": outcome.status_code, "error": outcome.error})
            if fenced == 1:
                tx.insert("attempt_insert", {"delivery_id": delivery_id, "status_code": outcome.status_code,
                                             "duration_ms": outcome.duration_ms, "error": outcome.error,
                                             "worker": self.worker_id})
                metrics.add(tx, "webhook_deliveries", 1, outcome=result)
        level = logging.INFO if outcome.ok else logging.WARNING
        log_event(log, f"webhook.{result}", level, delivery=delivery_id, job=row["job_id"], type=row["event"],
                  webhook=row["webhook_id"], status_code=outcome.status_code, duration=outcome.duration_ms / 1000,
                  attempt=attempts, worker=self.worker_id, error=outcome.error, next_attempt=next_at)
        return outcome
