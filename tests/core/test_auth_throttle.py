"""Sign-in throttling, on SQLite and MariaDB (the `db`-based fixtures are parametrised by engine):
the password gate (at most two argon2 checks at once, refusals at once), attempts counted
before they are judged (a parallel burst gets no more checks than a patient attacker), pauses
per (name, client) so nobody elsewhere can lock a user out, the per-name and per-client
ceilings, the account page's current-password check, the log line of every failure, pruning,
an administrator's unlock and reset."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from starlette.testclient import TestClient

from app.core.accounts.throttle import PASSWORD_GATE, PAUSE_RECHECK, Policy, ServerBusy, Throttle, name_key
from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import Database, db_time_text
from app.core.errors import Throttled
from tests.conftest import assert_json_error, basic_auth
from tests.panel_helpers import csrf_of, flashes_of, login
from tests.support.procs import events
from tests.support.sql import raw

PASSWORD = "alice-password-1"
# The gate and the throttle are about the cost of a check: passwords hashed at full strength here.
pytestmark = pytest.mark.full_hash




def failure_rows(db: Database) -> list[dict[str, Any]]:
    return raw(db, "SELECT username, client, failed_at FROM login_failures ORDER BY id")


def age_failures(db: Database, seconds: float, throttle: Throttle | None = None) -> None:
    """Every recorded failure happened ``seconds`` earlier than it did; and ``throttle``'s memory
    of the pauses it refused (its own clock) ends, as it would have by then."""
    for row in raw(db, "SELECT id, failed_at FROM login_failures"):
        then = row["failed_at"]
        then = datetime.fromisoformat(then) if isinstance(then, str) else then
        raw(db, "UPDATE login_failures SET failed_at = ? WHERE id = ?",
            (db_time_text(then - timedelta(seconds=seconds)), row["id"]))
    if throttle is not None:
        throttle._paused = {pair: (end - seconds, recheck - seconds, refusal)
                            for pair, (end, recheck, refusal) in throttle._paused.items()}


def auth_events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, str]]:
    return [e for e in events("\n".join(caplog.messages), "auth.") if e["event"] == name]


def sign_in(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False)


@pytest.fixture
def from_address(app):  # type: ignore[no-untyped-def]
    """from_address("10.0.0.1") -> a TestClient whose requests come from that address."""
    opened: list[TestClient] = []

    def make(host: str) -> TestClient:
        client = TestClient(app, client=(host, 40000))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


# -- 1. the password gate ------------------------------------------------------------------------------
@pytest.mark.timing
def test_when_every_hash_slot_is_taken_a_sign_in_is_refused_at_once_with_retry_after(  # type: ignore[no-untyped-def]
        client, api_client, db, alice, caplog) -> None:
    caplog.set_level(logging.INFO, logger="beyond.auth")
    token = csrf_of(client.get("/login").text)
    with PASSWORD_GATE.slot(), PASSWORD_GATE.slot():  # two sign-ins being checked right now
        started = time.monotonic()
        busy = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token},
                           follow_redirects=False)
        api = api_client.get("/api/jobs", headers=basic_auth("alice", PASSWORD))
        elapsed = time.monotonic() - started
    assert busy.status_code == 429 and "busy" in busy.text and int(busy.headers["retry-after"]) >= 1
    assert_json_error(api, 429, "busy")
    assert int(api.headers["retry-after"]) >= 1
    assert elapsed < 2  # a short wait, then the answer: no queue of 64 MiB hashes
    assert failure_rows(db) == []  # not checked, so not counted against anyone
    assert [e["limit"] for e in auth_events(caplog, "auth.throttled")] == ["busy", "busy"]
    # Once a slot is free, the same sign-in goes through.
    assert sign_in(client, "alice", PASSWORD).status_code == 303


def test_the_gate_never_runs_more_than_its_slots_at_once() -> None:
    from app.core.accounts.throttle import PasswordGate

    gate = PasswordGate(slots=2, wait=0.05)
    inside, most, refused = [0], [0], [0]
    lock = threading.Lock()

    def attempt() -> None:
        try:
            with gate.slot():
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.2)
                with lock:
                    inside[0] -= 1
        except ServerBusy as exc:
            assert exc.retry_after >= 1
            with lock:
                refused[0] += 1

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: attempt(), range(10)))
    assert most[0] == 2 and refused[0] == 8


# -- 2. counted before judged ----------------------------------------------------------------------------
def test_a_parallel_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit(  # type: ignore[no-untyped-def]
        db, users, alice, caplog) -> None:
    caplog.set_level(logging.INFO, logger="beyond.auth")
    barrier = threading.Barrier(40)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            user = users.authenticate("alice", f"guess-{i:02d}-wrong", client="10.9.9.9", via="form")
            return "accepted" if user else "judged"
        except Throttled:
            return "refused"
        finally:
            db.close()  # this thread's connection

    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    judged = outcomes.count("judged")
    assert "accepted" not in outcomes
    # At most the limit; none at all when every row was in before the first count (each then
    # sees 40 attempts, a fresh one among them, and pauses): the safe side of the race.
    assert judged <= Policy.free_per_pair, outcomes
    assert judged == len(auth_events(caplog, "auth.failed"))
    assert outcomes.count("refused") == 40 - judged
    # What stays in the table is the judged failures, nothing else.
    assert len(failure_rows(db)) == judged


# -- 3. pauses per (name, client); nobody elsewhere locks the user out ---------------------------------
def test_failures_elsewhere_do_not_lock_the_real_user_out(from_address, users, alice) -> None:  # type: ignore[no-untyped-def]
    attacker, owner = from_address("203.0.113.66"), from_address("198.51.100.7")
    for _ in range(Policy.free_per_pair):
        assert sign_in(attacker, "alice", "wrong-password").status_code == 400
    assert sign_in(attacker, "alice", PASSWORD).status_code == 429  # the attacker pauses
    assert sign_in(owner, "alice", PASSWORD).status_code == 303  # alice does not


def test_pauses_grow_with_each_failure_and_end_after_the_wait(db, users, alice) -> None:  # type: ignore[no-untyped-def]
    policy = users.throttle.policy
    for _ in range(Policy.free_per_pair):
        assert users.authenticate("alice", "wrong-password", client="10.1.1.1") is None
    with pytest.raises(Throttled) as first:
        users.authenticate("alice", PASSWORD, client="10.1.1.1")
    assert first.value.retry_after == policy.first_delay and first.value.extra["limit"] == "pair"
    assert "Wait 30 seconds" in first.value.message
    age_failures(db, policy.first_delay + 1, users.throttle)  # the pause has passed
    assert users.authenticate("alice", "wrong-again-1", client="10.1.1.1") is None  # judged: one more failure
    with pytest.raises(Throttled) as second:
        users.authenticate("alice", PASSWORD, client="10.1.1.1")
    assert second.value.retry_after == 2 * policy.first_delay
    age_failures(db, 2 * policy.first_delay + 1, users.throttle)
    assert users.authenticate("alice", PASSWORD, client="10.1.1.1") == alice
    assert failure_rows(db) == []  # a success clears that client's failures


def test_a_ceiling_per_user_name_stops_guessing_from_many_addresses(db, alice) -> None:  # type: ignore[no-untyped-def]
    users = Users(db, throttle=Throttle(db, Policy(per_name=4)))
    for i in range(4):
        assert users.authenticate("alice", "wrong-password", client=f"10.0.0.{i}") is None
    # An address that failed for the name itself is refused until its failures expire.
    with pytest.raises(Throttled) as refused:
        users.authenticate("alice", PASSWORD, client="10.0.0.1")
    assert refused.value.extra["limit"] == "user" and refused.value.retry_after >= 60
    assert "Too many failed sign-ins for this user name" in refused.value.message
    # Any other address is slowed: one check of the name per name_slow seconds.
    with pytest.raises(Throttled) as slowed:
        users.authenticate("alice", PASSWORD, client="10.0.0.99")
    assert slowed.value.extra["limit"] == "slow" and 1 <= slowed.value.retry_after <= Policy.name_slow
    assert "checked one at a time" in slowed.value.message
    age_failures(db, Policy.name_slow + 1, users.throttle)
    assert users.authenticate("alice", "wrong-guess-99", client="10.0.0.99") is None  # a turn used: a failure
    with pytest.raises(Throttled) as burnt:  # and that address is now refused like the others
        users.authenticate("alice", PASSWORD, client="10.0.0.99")
    assert burnt.value.extra["limit"] == "user"


def test_wrong_passwords_from_many_addresses_do_not_lock_the_owner_out_everywhere(  # type: ignore[no-untyped-def]
        from_address, db, alice) -> None:
    # 5 wrong passwords from each of 12 addresses (60, over the per-name ceiling of 50), written
    # with the app's own query: the argon2 checks are not what this is about.
    policy = Policy()
    assert 12 * policy.free_per_pair > policy.per_name
    for i in range(12):
        for _ in range(policy.free_per_pair):
            db.insert("login_attempt_insert", {"username": "alice", "client": f"203.0.113.{i}"})
    attacker, owner = from_address("203.0.113.3"), from_address("198.51.100.77")
    assert sign_in(attacker, "alice", PASSWORD).status_code == 429  # the attackers' addresses stay locked
    soon = sign_in(owner, "alice", PASSWORD)
    assert soon.status_code == 429 and int(soon.headers["retry-after"]) <= policy.name_slow  # seconds, not minutes
    age_failures(db, policy.name_slow + 1)
    assert sign_in(owner, "alice", PASSWORD).status_code == 303


def test_a_ceiling_per_name_counts_every_spelling_of_the_name(db, alice) -> None:  # type: ignore[no-untyped-def]
    users = Users(db, throttle=Throttle(db, Policy(per_name=3)))
    for i, spelling in enumerate(("alice", "Alice", "ALICE")):
        assert users.authenticate(spelling, "wrong-password", client=f"10.0.0.{i}") is None
    with pytest.raises(Throttled):
        users.authenticate("aLiCe", PASSWORD, client="10.0.0.50")
    assert {r["username"] for r in failure_rows(db)} == {"alice"}


@pytest.mark.timing
def test_a_ceiling_per_client_stops_random_user_name_floods(from_address, db) -> None:  # type: ignore[no-untyped-def]
    flood, other = from_address("192.0.2.13"), from_address("192.0.2.14")
    limit = Policy().per_client
    # Earlier failures of this address, for names that do not exist (the app's own query).
    for i in range(limit):
        db.insert("login_attempt_insert", {"username": f"random-{i}", "client": "192.0.2.13"})
    started = time.monotonic()
    refused = sign_in(flood, "yet-another-name", "whatever-123")
    assert time.monotonic() - started < 1  # refused without a password check
    assert refused.status_code == 429 and "from your address" in refused.text
    assert int(refused.headers["retry-after"]) >= 60
    assert sign_in(other, "yet-another-name", "whatever-123").status_code == 400  # judged normally


@pytest.mark.timing
def test_a_blocked_address_is_refused_without_database_work_and_logged_once(db, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="beyond.auth")
    users = Users(db, throttle=Throttle(db, Policy(per_client=3)))
    for i in range(3):
        assert users.authenticate(f"random-{i}", "whatever-123", client="192.0.2.30") is None
    for _ in range(4):
        with pytest.raises(Throttled) as refused:
            users.authenticate("alice", "whatever-123", client="192.0.2.30")
        assert refused.value.extra["limit"] == "client" and refused.value.retry_after > 0
    assert len(auth_events(caplog, "auth.throttled")) == 1  # the block's start, not every request
    if db.engine == "sqlite":
        other = sqlite3.connect(db.path, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the database is busy writing: a write would wait 30 s
        try:
            started = time.monotonic()
            with pytest.raises(Throttled):
                users.authenticate("bob", "whatever-123", client="192.0.2.30")
            assert time.monotonic() - started < 2
        finally:
            other.execute("ROLLBACK")
            other.close()
    # When the block ends, one line says how many requests it refused.
    users.throttle._blocked["192.0.2.30"][0] = 0
    users.throttle.prune(force=True)
    [ended] = auth_events(caplog, "auth.client_unblocked")
    assert ended["client"] == "192.0.2.30" and int(ended["refused"]) == (4 if db.engine == "sqlite" else 3)


def test_http_basic_is_throttled_per_client_too(app, db, alice) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, client=("192.0.2.20", 1)) as flood, TestClient(app, client=("192.0.2.21", 1)) as owner:
        for i in range(Policy().per_client):
            db.insert("login_attempt_insert", {"username": f"random-{i}", "client": "192.0.2.20"})
        # Refused without a check: 429 with Retry-After, never a 401 that reads as a wrong password.
        refused = flood.get("/api/jobs", headers=basic_auth("alice", PASSWORD))
        assert_json_error(refused, 429, "from your address")
        assert int(refused.headers["retry-after"]) >= 60 and "www-authenticate" not in refused.headers
        assert owner.get("/api/jobs", headers=basic_auth("alice", PASSWORD)).status_code == 200


@pytest.mark.timing
def test_a_paused_pair_is_refused_from_memory_and_asks_the_database_again_within_a_second(  # type: ignore[no-untyped-def]
        db, users, alice, caplog) -> None:
    caplog.set_level(logging.INFO, logger="beyond.auth")
    # Six attempts of alice from one address in the table: a parallel burst's own rows, say.
    burst = [db.insert("login_attempt_insert", {"username": "alice", "client": "192.0.2.40"}) for _ in range(6)]
    with pytest.raises(Throttled) as paused:
        users.authenticate("alice", PASSWORD, client="192.0.2.40", via="basic")
    assert paused.value.extra["limit"] == "pair"
    if db.engine == "sqlite":
        other = sqlite3.connect(db.path, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the database is busy writing: a write would wait 30 s
        try:
            started = time.monotonic()
            for _ in range(50):  # a flood from that pair: refused from memory, no database work
                with pytest.raises(Throttled):
                    users.authenticate("alice", PASSWORD, client="192.0.2.40", via="basic")
            assert time.monotonic() - started < 0.5
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert len(auth_events(caplog, "auth.throttled")) == 1  # the pause's start, not every request
    for attempt_id in burst:  # the burst ended: its rows are gone, no failure is left
        db.execute("login_attempt_delete", {"id": attempt_id})
    time.sleep(PAUSE_RECHECK + 0.1)
    assert users.authenticate("alice", PASSWORD, client="192.0.2.40", via="basic") == alice


def test_a_basic_success_clears_only_its_own_clients_failures(app, db, users, alice) -> None:  # type: ignore[no-untyped-def]
    assert users.authenticate("alice", "wrong-password", client="203.0.113.5") is None  # someone elsewhere
    with TestClient(app, client=("198.51.100.9", 1)) as owner:
        assert owner.get("/api/jobs", headers=basic_auth("alice", "wrong-password")).status_code == 401
        assert len(failure_rows(db)) == 2
        assert owner.get("/api/jobs", headers=basic_auth("alice", PASSWORD)).status_code == 200
        # The owner's own failure is gone; the other client's stays counted against the name.
        assert [r["client"] for r in failure_rows(db)] == ["203.0.113.5"]
        assert owner.get("/api/jobs", headers=basic_auth("alice", PASSWORD)).status_code == 200
        assert [r["client"] for r in failure_rows(db)] == ["203.0.113.5"]


def test_checked_basic_credentials_need_no_password_slot_until_the_password_changes(  # type: ignore[no-untyped-def]
        app, db, users, admin, alice) -> None:
    with TestClient(app, client=("198.51.100.60", 1)) as script, TestClient(app, client=("198.51.100.61", 1)) as other:
        assert script.get("/api/jobs", headers=basic_auth("alice", PASSWORD)).status_code == 200
        with PASSWORD_GATE.slot(), PASSWORD_GATE.slot():  # every password slot taken
            # Alice's script, checked a moment ago, goes on without a slot; a first check waits for one.
            assert script.get("/api/jobs", headers=basic_auth("ALICE", PASSWORD)).status_code == 200
            assert_json_error(other.get("/api/jobs", headers=basic_auth("admin", "admin-password-1")), 429, "busy")
        users.set_password(alice.id, "alices-new-pass-2")  # any process: the stored hash no longer matches
        assert_json_error(script.get("/api/jobs", headers=basic_auth("alice", PASSWORD)), 401)
        assert script.get("/api/jobs", headers=basic_auth("alice", "alices-new-pass-2")).status_code == 200
        users.set_active(alice.id, False)
        assert_json_error(script.get("/api/jobs", headers=basic_auth("alice", "alices-new-pass-2")), 401)
    # Each refusal was a real check (the success between them cleared the first).
    assert failure_rows(db) == [{"username": "alice", "client": "198.51.100.60", "failed_at": ANY}]


@pytest.mark.slow
def test_one_accounts_flood_of_its_own_password_gets_no_401_and_leaves_the_slots_to_others(  # type: ignore[no-untyped-def]
        app, users, alice) -> None:
    others = [users.create(f"boss{i}", f"boss-password-{i}", is_admin=True) for i in range(5)]
    answers: list[int] = []
    last: dict[int, int] = {}  # each flood thread's latest answer
    stop = threading.Event()
    with TestClient(app, client=("192.0.2.50", 1)) as flood:
        def hammer() -> None:
            while not stop.is_set():
                answer = flood.get("/api/jobs", headers=basic_auth("alice", PASSWORD))
                assert answer.status_code == 200 or int(answer.headers["retry-after"]) >= 1
                answers.append(answer.status_code)
                last[threading.get_ident()] = answer.status_code

        with ThreadPoolExecutor(20) as pool:
            running = [pool.submit(hammer) for _ in range(20)]
            # Until its first check ends, the flood competes for the slots like anyone (on a
            # loaded machine that takes a while); from then on it needs none.
            deadline = time.monotonic() + 60
            while not (len(last) == 20 and set(last.values()) == {200}) and time.monotonic() < deadline:
                time.sleep(0.05)
            signed = []
            for i, boss in enumerate(others):
                with TestClient(app, client=(f"198.51.100.{70 + i}", 1)) as theirs:
                    signed.append(theirs.get("/api/jobs", headers=basic_auth(boss.username, f"boss-password-{i}"))
                                  .status_code)
            stop.set()
            for future in running:
                future.result()
    assert 401 not in answers and set(answers) <= {200, 429} and set(last.values()) == {200}
    assert signed == [200] * len(others)


def test_a_password_an_administrator_set_is_refused_over_basic_until_changed(  # type: ignore[no-untyped-def]
        api_client, db, users, alice, bearer) -> None:
    db.execute("accounts_set_must_change", {"id": alice.id, "must": 1})  # as a create or reset by an admin does
    refused = api_client.get("/api/jobs", headers=basic_auth("alice", PASSWORD))
    assert_json_error(refused, 403, "sign in to the panel", "API tokens keep working")
    assert api_client.get("/api/jobs", headers=bearer(alice)).status_code == 200  # tokens are separate
    users.set_password(alice.id, "alices-own-pass-1")  # what the account page does; clears the flag
    assert api_client.get("/api/jobs", headers=basic_auth("alice", "alices-own-pass-1")).status_code == 200


# -- admin: unlock, and a reset that unlocks ------------------------------------------------------------
def test_an_administrator_unlocks_a_user(app, from_address, users, admin, alice) -> None:  # type: ignore[no-untyped-def]
    victim = from_address("198.51.100.1")
    for _ in range(Policy.free_per_pair):
        sign_in(victim, "alice", "wrong-password")
    assert sign_in(victim, "alice", PASSWORD).status_code == 429
    boss = from_address("198.51.100.2")
    csrf = login(boss, "admin", "admin-password-1")
    page = boss.get("/admin/users").text
    assert f'id="failures-{alice.id}"' in page and f"/admin/users/{alice.id}/unlock" in page
    assert boss.post(f"/admin/users/{alice.id}/unlock", follow_redirects=False).status_code == 403  # no CSRF
    assert sign_in(victim, "alice", PASSWORD).status_code == 429
    unlocked = boss.post(f"/admin/users/{alice.id}/unlock", data={"csrf_token": csrf})
    assert unlocked.status_code == 200
    assert f"alice unlocked: {Policy.free_per_pair} failed sign-ins forgotten." in flashes_of(unlocked.text)
    assert f'id="failures-{alice.id}"' not in unlocked.text
    assert sign_in(victim, "alice", PASSWORD).status_code == 303


def test_an_administrators_password_reset_clears_the_lock(from_address, users, admin, alice) -> None:  # type: ignore[no-untyped-def]
    victim = from_address("198.51.100.3")
    for _ in range(Policy.free_per_pair):
        sign_in(victim, "alice", "wrong-password")
    assert sign_in(victim, "alice", PASSWORD).status_code == 429
    boss = from_address("198.51.100.4")
    csrf = login(boss, "admin", "admin-password-1")
    reset = boss.post(f"/admin/users/{alice.id}/password", data={"csrf_token": csrf, "password": "reset-by-admin"})
    assert "failed sign-ins forgotten" in " ".join(flashes_of(reset.text))
    assert sign_in(victim, "alice", "reset-by-admin").status_code == 303


# -- 4. the account page's current-password check -----------------------------------------------------
def test_the_current_password_check_on_the_account_page_is_throttled(from_address, users, alice, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="beyond.auth")
    here = from_address("198.51.100.30")
    csrf = login(here, "alice", PASSWORD)

    def change(current: str):  # type: ignore[no-untyped-def]
        return here.post("/account", data={"csrf_token": csrf, "action": "password", "current_password": current,
                                            "new_password": "brand-new-pass", "repeat_password": "brand-new-pass"})

    for _ in range(Policy.free_per_pair):
        wrong = change("not-my-password")
        assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    blocked = change(PASSWORD)  # even the right one, now
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert users.authenticate("alice", PASSWORD, client="198.51.100.31") == alice  # unchanged
    assert [e["via"] for e in auth_events(caplog, "auth.failed")] == ["account"] * Policy.free_per_pair


# -- 5. a log line per failure, and pruning ----------------------------------------------------------------
def test_every_failed_sign_in_is_one_log_line_without_the_password(app, from_address, alice, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="beyond.auth")
    client = from_address("198.51.100.40")
    secret = "Tr0ub4dor-secret-guess"
    assert sign_in(client, "alice", secret).status_code == 400
    assert sign_in(client, "nobody here", secret).status_code == 400
    assert client.get("/api/jobs", headers=basic_auth("Alice", secret)).status_code == 401
    assert sign_in(client, "alice", PASSWORD).status_code == 303
    lines = auth_events(caplog, "auth.failed")
    assert [(e["user"], e["client"], e["via"]) for e in lines] == [
        ("alice", "198.51.100.40", "form"), ("nobody here", "198.51.100.40", "form"),
        ("Alice", "198.51.100.40", "basic")]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "auth.failed" in r.getMessage())
    assert secret not in caplog.text and PASSWORD not in caplog.text


def test_rows_older_than_the_window_are_pruned(db, users, alice) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        assert users.authenticate("alice", "wrong-password", client=f"10.2.0.{i}") is None
    age_failures(db, Policy().window + 60)
    assert len(failure_rows(db)) == 3
    fresh = Users(db)  # a new process: it prunes on its first attempt
    assert fresh.authenticate("alice", "wrong-password", client="10.2.0.9") is None
    assert [r["client"] for r in failure_rows(db)] == ["10.2.0.9"]


# -- 6. a password change can revoke the API tokens -------------------------------------------------------
@pytest.mark.parametrize("revoke", [True, False], ids=["revoke", "keep"])
def test_changing_the_password_offers_to_revoke_the_api_tokens(client, db, alice, revoke) -> None:  # type: ignore[no-untyped-def]
    tokens = Tokens(db)
    secret, _ = tokens.create(alice.id, "nightly")
    csrf = login(client, "alice", PASSWORD)
    assert 'name="revoke_tokens"' in client.get("/account").text
    data = {"csrf_token": csrf, "action": "password", "current_password": PASSWORD,
            "new_password": "brand-new-pass", "repeat_password": "brand-new-pass"}
    done = client.post("/account", data={**data, **({"revoke_tokens": "on"} if revoke else {})})
    assert done.status_code == 200 and "Password changed" in done.text
    assert ("1 API token revoked" in done.text) == revoke
    assert (tokens.authenticate(secret) is None) == revoke


@pytest.mark.parametrize("revoke", [True, False], ids=["revoke", "keep"])
def test_an_admin_reset_offers_to_revoke_the_api_tokens(client, db, admin, alice, revoke) -> None:  # type: ignore[no-untyped-def]
    tokens = Tokens(db)
    first, _ = tokens.create(alice.id, "one")
    second, _ = tokens.create(alice.id, "two")
    csrf = login(client, "admin", "admin-password-1")
    page = client.get("/admin/users").text
    assert f'id="revoke-{alice.id}" name="revoke_tokens" type="checkbox" form="reset-{alice.id}"' in page
    data = {"csrf_token": csrf, "password": "reset-by-admin", **({"revoke_tokens": "on"} if revoke else {})}
    reset = client.post(f"/admin/users/{alice.id}/password", data=data)
    assert reset.status_code == 200 and ("2 API tokens revoked" in reset.text) == revoke
    assert (tokens.authenticate(first) is None) == revoke and (tokens.authenticate(second) is None) == revoke


def test_name_keys_are_lower_case() -> None:
    assert name_key("MaRiA") == "maria" and name_key("x" * 80) == "x" * 64


def test_passwords_are_stored_with_argon2id_at_full_strength(db, alice) -> None:  # type: ignore[no-untyped-def]
    from argon2 import extract_parameters
    from argon2.profiles import RFC_9106_LOW_MEMORY

    stored = raw(db, "SELECT password_hash FROM users WHERE id = ?", (alice.id,))[0]["password_hash"]
    assert extract_parameters(stored) == RFC_9106_LOW_MEMORY
