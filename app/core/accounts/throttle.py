"""Sign-in throttling: how many password checks may run at once, and who may try again when.

Two guards, both in front of the expensive part (argon2id, 64 MiB and ~0.2 s of CPU a check):

* ``PasswordGate``: at most ``slots`` password hashes run at once in this process; an attempt
  that cannot get a slot within a short wait is refused at once (``ServerBusy``, a 429 with
  Retry-After) instead of queueing a 64 MiB allocation behind every other one.
* ``Throttle``: every attempt is written to ``login_failures`` BEFORE its password is checked,
  then counted; an attempt over a limit is refused without hashing and its row removed. The
  rows that stay are failures. Counting after one's own committed insert means the k-th of a
  parallel burst sees at least k rows, so a burst of 40 gets no more checks than a patient
  attacker. Limits, within ``window`` seconds:

  - per (user name, client address): ``free_per_pair`` failures, then a pause before each
    further attempt that doubles from ``first_delay`` up to ``max_delay``; a success from that
    client clears that client's failures only. An attacker elsewhere slows only himself.
  - per user name, from all clients together: ``per_name`` failures (distributed guessing).
    Over it, a client with failures of its own for the name is refused until they expire; a
    client with none is slowed, not locked: one password check of the name per ``name_slow``
    seconds. So 5 wrong passwords from each of 12 addresses cannot lock the owner out
    everywhere (from any other address they wait seconds at most), while guessing from many
    addresses stays bounded: past the ceiling every check costs a fresh address AND a turn.
  - per client address, whatever the names: ``per_client`` failures (random-name floods).

User names are counted by their lower-case key, like accounts (migration 004).

An address over its ceiling is also remembered in this process until its Retry-After has
passed, and so is a (name, client) pair in its pause (asking the database again once a
second, ``PAUSE_RECHECK``): a flood from it is then refused with almost no database work, and
one log line when the block starts, not one per request (for an address one more when it
ends). An administrator's unlock forgets the pairs of the name.

``CheckedCredentials`` remembers, for a few minutes, HTTP Basic credentials that passed a
check: a script that sends its password with every call costs one argon2 check per few
minutes, not one per call, so one account's calls (however many) cannot hold the password
slots that everyone else's sign-ins need.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.core.db import Database, Row, parse_time
from app.core.errors import Throttled
from app.core.logfmt import log_event

log = logging.getLogger("beyond.auth")

MAX_CLIENT = 64  # characters of a client address kept (an IPv6 address has at most 45)
# A (name, client) pause remembered in the process is trusted this long, then the database
# decides again: the rows a pause was counted from may have been a parallel burst's own
# attempts, gone a moment later, and a right password must not wait out 30 s for them.
PAUSE_RECHECK = 1.0  # seconds


class ServerBusy(Throttled):
    """Every password-check slot stayed taken for the whole short wait."""


class Refused(Throttled):
    """An attempt over a limit. ``repeat``: already refused in this process (logged once, not
    again); for the log only, so it is not in ``extra`` (which the API answers)."""

    def __init__(self, message: str, *, retry_after: int, limit: str, repeat: bool) -> None:
        super().__init__(message, retry_after=retry_after, extra={"limit": limit})
        self.repeat = repeat


@dataclass(frozen=True)
class Policy:
    window: int = 15 * 60    # seconds a failure counts (and the age past which rows are pruned)
    free_per_pair: int = 5   # failures of one name from one client before pauses begin
    first_delay: int = 30    # seconds of the first pause; doubled for each further failure
    max_delay: int = 15 * 60
    per_name: int = 50       # failures of one name from all clients together
    per_client: int = 20     # failures from one client address, any names
    name_slow: int = 10      # over per_name: seconds between two checks of the name from clean clients
    prune_every: float = 60  # seconds between two prunes of old rows (per process)

    def pause(self, pair_n: int) -> int:
        """The pause before attempt number ``pair_n`` of one name from one client (0: none)."""
        over = pair_n - self.free_per_pair
        if over <= 0:
            return 0
        return min(self.first_delay * 2 ** min(over - 1, 30), self.max_delay)


class PasswordGate:
    """A small counting semaphore around password hashing, with a short wait."""

    def __init__(self, slots: int = 2, wait: float = 0.25) -> None:
        self.slots, self.wait = slots, wait
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self, wait: float | None = None) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.wait if wait is None else wait):
            raise ServerBusy("The server is busy checking other sign-ins. Try again in a moment.", retry_after=1)
        try:
            yield
        finally:
            self._semaphore.release()


# One per process: every Users of the process shares it, so the bound holds whatever builds them.
PASSWORD_GATE = PasswordGate()


def name_key(username: str) -> str:
    return (username or "").lower()[:64]


def wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


@dataclass(frozen=True)
class Attempt:
    id: int
    key: str
    client: str
    earlier_failures: int  # of this name from this client, within the window


@dataclass(frozen=True)
class Refusal:
    limit: str  # pair | user | slow | client
    retry_after: int
    repeat: bool = False  # an address or pair already refused in this process: not logged again
    ends_in: float | None = None  # seconds until it ends, if not retry_after (0: not remembered in memory)

    def error(self) -> Refused:
        wait = wait_text(self.retry_after)
        if self.limit == "client":
            message = f"Too many failed sign-ins from your address. Wait {wait} and try again."
        elif self.limit == "slow":
            message = (f"Many failed sign-ins for this user name from other addresses: its passwords are checked "
                       f"one at a time. Wait {wait} and try again.")
        else:
            message = (f"Too many failed sign-ins for this user name. Wait {wait} and try again, "
                       "or ask an administrator to unlock the account.")
        return Refused(message, retry_after=self.retry_after, limit=self.limit, repeat=self.repeat)


def _age(now: datetime | None, then: Any) -> float:
    start = parse_time(then)
    if now is None or start is None:
        return 0.0
    return max(0.0, (now - start).total_seconds())


class Throttle:
    def __init__(self, db: Database, policy: Policy | None = None) -> None:
        self.db = db
        self.policy = policy or Policy()
        self._pruned_at = -math.inf
        self._lock = threading.Lock()
        # client address -> [monotonic end of its block, requests refused during it]
        self._blocked: dict[str, list[float]] = {}
        # (name key, client) -> (monotonic end of its refusal, when to ask the database again, it)
        self._paused: dict[tuple[str, str], tuple[float, float, Refusal]] = {}

    def _params(self, key: str, client: str, attempt_id: int) -> dict[str, Any]:
        return {"username": key, "client": client, "id": attempt_id, "lease_seconds": self.policy.window}

    def refusal(self, row: Row | None, pending: int = 0) -> Refusal | None:
        """Whether the counted attempt must be refused. ``pending``: attempts not in the counts
        yet (1 for a look without an attempt row of its own)."""
        if row is None:
            return None
        policy = self.policy
        now = parse_time(row["now"])
        pair_n = int(row["pair_n"]) + pending
        found: list[Refusal] = []
        pause = policy.pause(pair_n)
        if pause and row["pair_newest"] is not None and _age(now, row["pair_newest"]) < pause:
            # The whole pause, not what is left of it: the same answer for every refused try.
            found.append(Refusal("pair", pause, ends_in=pause - _age(now, row["pair_newest"])))
        if int(row["name_n"]) + pending > policy.per_name:
            if pair_n > 1:  # this client failed for this name itself: refused until that expires
                found.append(Refusal("user", self._until_expiry(now, row["name_oldest"])))
            elif row["name_newest"] is not None and _age(now, row["name_newest"]) < policy.name_slow:
                left = policy.name_slow - _age(now, row["name_newest"])
                found.append(Refusal("slow", max(1, math.ceil(left)), ends_in=0))
        if int(row["client_n"]) + pending > policy.per_client:
            found.append(Refusal("client", self._until_expiry(now, row["client_oldest"])))
        return max(found, key=lambda r: r.retry_after) if found else None

    def _until_expiry(self, now: datetime | None, oldest: Any) -> int:
        left = self.policy.window - _age(now, oldest)
        return max(60, math.ceil(left / 60) * 60)  # whole minutes

    def begin(self, username: str, client: str) -> Attempt:
        """Record an attempt, then count; raises Throttled (the row removed again) when it is over
        a limit. Call ``succeeded`` or ``abandon`` after the check; a failure keeps the row."""
        self.prune()
        key, client = name_key(username), (client or "")[:MAX_CLIENT]
        blocked = self._still_blocked(client) or self._still_paused(key, client)
        if blocked is not None:
            raise blocked.error()
        attempt_id = self.db.insert("login_attempt_insert", {"username": key, "client": client})
        try:
            row = self.db.one("login_attempt_counts", self._params(key, client, attempt_id))
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                self.db.execute("login_attempt_delete", {"id": attempt_id})
            raise
        refused = self.refusal(row)
        if refused is None:
            with self._lock:
                self._paused.pop((key, client), None)
        else:
            self.db.execute("login_attempt_delete", {"id": attempt_id})
            ends_in = refused.retry_after if refused.ends_in is None else refused.ends_in
            now = time.monotonic()
            with self._lock:
                if refused.limit == "client":
                    self._blocked[client] = [now + ends_in, 0]
                elif ends_in > 0:
                    earlier = self._paused.get((key, client))
                    if earlier is not None and earlier[0] > now:
                        refused = replace(refused, repeat=True)  # the same pause again: logged once
                    self._paused[(key, client)] = (now + ends_in, now + min(ends_in, PAUSE_RECHECK), refused)
            raise refused.error()
        assert row is not None
        return Attempt(attempt_id, key, client, int(row["pair_n"]) - 1)

    def _still_blocked(self, client: str) -> Refusal | None:
        with self._lock:
            entry = self._blocked.get(client)
            if entry is None:
                return None
            left = entry[0] - time.monotonic()
            if left <= 0:
                return None  # over: the database decides again (prune logs and forgets it)
            entry[1] += 1
        return Refusal("client", max(1, math.ceil(left)), repeat=True)

    def _still_paused(self, key: str, client: str) -> Refusal | None:
        now = time.monotonic()
        with self._lock:
            entry = self._paused.get((key, client))
            if entry is None:
                return None
            end, recheck, refused = entry
            if end <= now:
                del self._paused[(key, client)]
                return None
        if recheck <= now:
            return None  # the database decides (and renews the entry if the pause holds)
        return Refusal(refused.limit, refused.retry_after, repeat=True)

    def check(self, username: str, client: str) -> Refusal | None:
        """Would a new attempt be refused now? A read only (the admin page, tests)."""
        key, client = name_key(username), (client or "")[:MAX_CLIENT]
        return self.refusal(self.db.one("login_attempt_counts", self._params(key, client, -1)), pending=1)

    def succeeded(self, attempt: Attempt) -> None:
        # Only this client's failures go: another client's stay counted against the name.
        if attempt.earlier_failures:
            self.db.execute("login_failures_clear_pair", {"username": attempt.key, "client": attempt.client})
        else:
            self.db.execute("login_attempt_delete", {"id": attempt.id})

    def abandon(self, attempt: Attempt) -> None:
        """The password was not checked after all (the server was busy): the try does not count."""
        self.db.execute("login_attempt_delete", {"id": attempt.id})

    def unlock(self, username: str) -> int:
        """Forget every failure of this name (an administrator's unlock, a password reset)."""
        key = name_key(username)
        with self._lock:
            for pair in [pair for pair in self._paused if pair[0] == key]:
                del self._paused[pair]
        return self.db.execute("login_failures_clear", {"username": key})

    def recent_failures(self) -> dict[str, int]:
        """Failures within the window, by lower-case name key."""
        rows = self.db.all("login_failures_by_name", {"lease_seconds": self.policy.window})
        return {r["username"]: int(r["n"]) for r in rows}

    def prune(self, force: bool = False) -> None:
        """Remove rows older than the window, at most every ``prune_every`` seconds."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._pruned_at < self.policy.prune_every:
                return
            self._pruned_at = now
            ended = {c: int(e[1]) for c, e in self._blocked.items() if e[0] <= now}
            for client in ended:
                del self._blocked[client]
            for pair in [pair for pair, (end, _, _) in self._paused.items() if end <= now]:
                del self._paused[pair]
        for client, refused in ended.items():
            log_event(log, "auth.client_unblocked", logging.WARNING, client=client, refused=refused)
        self.db.execute("login_failures_prune", {"lease_seconds": self.policy.window})


class CheckedCredentials:
    """HTTP Basic credentials that passed a password check in the last ``ttl`` seconds, by a
    keyed hash of (name key, password): the password itself is never kept, and the key is
    random per process. An entry says which user it was and the password hash it matched;
    the caller compares that with the account as it is now, so a password change, a disabled
    or a deleted account drops it (in every process, without telling them)."""

    def __init__(self, ttl: float = 300, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        # digest -> (user id, the password hash it matched, monotonic expiry)
        self._entries: dict[bytes, tuple[int, str, float]] = {}

    def _digest(self, username: str, password: str) -> bytes:
        message = name_key(username).encode("utf-8") + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, username: str, password: str) -> tuple[int, str] | None:
        digest = self._digest(username, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[2] <= time.monotonic():
                del self._entries[digest]
                return None
        return entry[0], entry[1]

    def put(self, username: str, password: str, user_id: int, password_hash: str) -> None:
        digest = self._digest(username, password)
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= self.size:
                for old in [d for d, e in self._entries.items() if e[2] <= now]:
                    del self._entries[old]
                while len(self._entries) >= self.size:  # all fresh: the oldest goes
                    del self._entries[next(iter(self._entries))]
            self._entries[digest] = (user_id, password_hash, now + self.ttl)

    def forget(self, username: str, password: str) -> None:
        with self._lock:
            self._entries.pop(self._digest(username, password), None)
