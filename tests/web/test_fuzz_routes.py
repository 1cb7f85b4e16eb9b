"""Every route of the application, panel and API, on SQLite and MariaDB, fuzzed with hypothesis
in its query string and its path ids: never a 500, and the server still answers afterwards.

The routes come from the application's own route table (tests/web/test_security.py's walk), so a
route added later is fuzzed without anyone listing it; the query parameters are the known ones
plus every name the web code reads with `.get("...")` from a query string, so a new parameter is
fuzzed too. Values: unicode digits ('²', '٣'), huge and negative numbers, empty and blank values,
control characters, injection and redirect strings, ISO times at the calendar's edges with
extreme offsets, plus arbitrary text. The panel is signed in through its login form (an
administrator, so the admin pages are reached too), the API with a Bearer token; POSTs carry the
session's CSRF token, so the handlers run rather than stopping at the CSRF check.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import hypothesis
import pytest
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import Database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings
from scheduler.worker import Worker
from tests.panel_helpers import login
from tests.web.test_security import call, is_api, params_of, routes_of

WEB_CODE = Path(__file__).resolve().parents[2] / "app" / "web"
# The query parameters the routes read today; the scan of the code below adds any new one.
KNOWN_PARAMETERS = {"page", "q", "status", "archived", "since", "next", "id", "force", "limit", "offset", "format"}
# `request.query_params.get("x")`, `query.get("x")` (query = request.query_params) and
# `params.get("x")` (the panel's Filters(request.query_params)); not `path_params.get`.
QUERY_READ = re.compile(r'(?<![\w.])(?:request\.query_params|query|params)\.get\("(\w+)"')
EXAMPLES_PER_ROUTE = 30
ADMIN_PASSWORD = "admin-password-1"

HOSTILE = [
    "", " ", "  \t", "0", "-0", "1", "-1", "00000000000000000000000001", "²", "٣", "١٢", "𝟗", "Ⅻ", "½",
    "9" * 18, "9" * 19, "9" * 30, "18446744073709551616", "-9223372036854775809", "1e309", "1.5", "0x10",
    "NaN", "inf", "\x00", "a\x00b", "\x1f\x7f", "\n", "\r\n", "\u202e", "😀", "%", "%00", "_", "!",
    "' OR '1'='1", "1; DROP TABLE wp_records; --", "../../etc/passwd", "//evil.example/", "https://evil.example/",
    "/\\evil.example", "/jobs?page=2", "javascript:alert(1)", "x" * 5000,
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999",
    "0001-01-01", "2026-02-30T00:00:00", "2026-12-01T25:00:00Z", "2026-12-01T00:00:00+24:00", "+275760-09-13",
    "PENDING", "IN PROCESS", "PROCESS OK", "ERROR", "pending", "true", "false", "on", "yes", "csv", "xlsx",
]


# Tried in every parameter of every route, whatever the generated cases happen to draw: the
# values behind the defects fixed on main (page=0, page=², since at the calendar's edges).
EVERYWHERE = ["", " ", "0", "-1", "²", "٣", "9" * 30, "18446744073709551616", "a\x00b",
              "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x" * 5000]


def extreme_times() -> st.SearchStrategy[str]:
    """ISO times anywhere in the calendar, with any offset a time zone can have (-14h..+14h)."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
    moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    return st.builds(lambda moment, zone: moment.replace(tzinfo=zone).isoformat(), moments, offsets)


# Values each known parameter accepts, so some requests get past the checks into the queries.
PLAUSIBLE = {
    "page": ["1", "2", "3"], "q": ["done", "csv", "a_b", "%"], "status": ["PENDING", "IN PROCESS", "PROCESS OK", "ERROR"],
    "archived": ["1", "true", "0", "false"], "next": ["/jobs", "/jobs?page=2", "/account"], "id": ["1", "2", "3", "7"],
    "force": ["1", "0", "true"], "limit": ["1", "10", "200"], "offset": ["0", "1", "5"], "format": ["csv", "xlsx"],
}
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(-(2**70), 2**70).map(str),
    extreme_times(),
    st.text(max_size=40),
)
PATH_VALUES = st.one_of(st.integers(0, 12).map(str), st.sampled_from(HOSTILE), st.integers(-(2**70), 2**70).map(str),
                        st.text(max_size=20))


def plausible(name: str) -> st.SearchStrategy[str]:
    if name == "since":
        return extreme_times() | st.just(datetime.now(UTC).isoformat())
    return st.sampled_from(PLAUSIBLE.get(name, ["1", "x"]))


def queries(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """A query string of hostile values, or of plausible ones with a hostile one at most."""
    hostile = st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names))
    some = st.lists(st.sampled_from(names), unique=True, max_size=len(names))
    good = some.flatmap(lambda chosen: st.fixed_dictionaries({name: plausible(name) for name in chosen}))
    one_bad = st.tuples(good, st.sampled_from(names), VALUES).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(hostile, good, one_bad)


def query_parameters() -> set[str]:
    found = {name for source in WEB_CODE.rglob("*.py") for name in QUERY_READ.findall(source.read_text("utf-8"))}
    # The scan must see what is known to be read, or it would miss new names as well.
    assert {"page", "q", "since", "next", "limit", "format", "force"} <= found, found
    return KNOWN_PARAMETERS | found


def seed_jobs(settings: Settings, db: Database, owner_id: int, make_csv: Any) -> list[int]:
    """Jobs in every state, so fuzzed ids and filters also meet real rows; their ids."""
    jobs = Jobs(db)
    ids: list[int] = []

    def submit(name: str) -> int:
        ids.append(submit_path(settings, jobs, owner_id, make_csv(6, name=name)).id)
        return ids[-1]

    worker = Worker(settings, db)
    for name in ("done.csv", "failed.csv"):
        claim = worker.claim(submit(name))
        assert claim is not None
        if name == "done.csv":
            worker.run_claim(claim)
        else:
            jobs.fail(claim, "failed on purpose")
    jobs.set_archived(submit("archived.csv"), True)
    assert jobs.claim(submit("running.csv"), "fuzz-test") is not None
    submit("waiting.csv")
    return ids


class Session:
    """An administrator signed in to the panel (session cookie and its CSRF token) and to the
    API (a Bearer token); either is renewed when a fuzzed request ended it (POST /logout, a
    revoked token)."""

    def __init__(self, client: TestClient, db: Database, user_id: int, real_ids: list[int], job_id: int) -> None:
        self.client, self.db, self.user_id, self.job_id = client, db, user_id, str(job_id)
        self.renewed: Counter = Counter()
        self.sign_in()
        self.new_token()
        # Ids of jobs, users and tokens that exist, for the path ids.
        self.real_ids = sorted({str(i) for i in real_ids} | {str(self.token_id)})

    def sign_in(self) -> None:
        self.client.cookies.clear()
        self.csrf = login(self.client, "admin", ADMIN_PASSWORD)

    def new_token(self) -> None:
        token, self.token_id = Tokens(self.db).create(self.user_id, "fuzz")
        self.api = {"Authorization": f"Bearer {token}"}

    def send(self, method: str, route: Route, path: str) -> Any:
        response = call(self.client, method, route, path, csrf=self.csrf, headers=self.api if is_api(route) else None)
        if is_api(route) and response.status_code == 401:
            self.renewed["token"] += 1
            self.new_token()
        elif not is_api(route) and signed_out(response):
            self.renewed["session"] += 1
            self.sign_in()
        return response


def signed_out(response: Any) -> bool:
    if response.status_code == 303:
        return str(response.headers.get("location", "")).startswith("/login")
    return response.status_code == 401 and "login" in response.text


def fill(route: Route, values: dict[str, str]) -> str:
    return route.path_format.format(**{name: quote(values[name], safe="") or "%20" for name in params_of(route)})


def with_query(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query, quote_via=quote)}" if query else path


# The defects fixed on main that this walk must keep covering (both engines).
KNOWN_DEFECTS = [
    ("/jobs", {"page": "0"}),  # a negative OFFSET: a MariaDB error
    ("/jobs", {"page": "²"}),  # isdigit() says yes, int() says no: a 500 on both engines
    ("/jobs", {"page": "٣"}),
    ("/jobs/updates", {"since": "0001-01-01T00:00:00+14:00"}),  # the offset pushes it before year 1
    ("/jobs/updates", {"since": "9999-12-31T23:59:59-14:00"}),  # ... or after 9999
]


@pytest.fixture
def fuzzed(app, settings: Settings, db: Database, make_csv, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    admin = Users(db).create("admin", ADMIN_PASSWORD, is_admin=True)
    alice = Users(db).create("alice", "alice-password-1")
    job_ids = seed_jobs(settings, db, admin.id, make_csv) + seed_jobs(settings, db, alice.id, make_csv)
    real_ids = [admin.id, alice.id, Tokens(db).create(alice.id, "alice's")[1], *job_ids]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Session(client, db, admin.id, real_ids, job_ids[0])
    assert "unhandled error" not in caplog.text


def assert_no_server_error(response: Any, method: str, path: str, caplog: Any) -> None:
    assert response.status_code < 500, (method, path[:300], response.status_code, response.text[:300], caplog.text[-3000:])
    assert "Traceback" not in response.text, (method, path[:300])


def test_known_defects_stay_fixed(fuzzed, caplog) -> None:  # type: ignore[no-untyped-def]
    routes = {route.path: route for method, route in routes_of(fuzzed.client.app) if method == "GET"}
    for path, query in KNOWN_DEFECTS:
        url = with_query(path, query)
        response = fuzzed.send("GET", routes[path], url)
        assert_no_server_error(response, "GET", url, caplog)
        assert response.status_code == 200, (url, response.status_code)


@pytest.mark.slow
def test_every_route_survives_fuzzed_query_strings_and_path_ids(fuzzed, caplog) -> None:  # type: ignore[no-untyped-def]
    names = sorted(query_parameters())
    statuses: Counter = Counter()
    # The deleting routes last, so the others still find the seeded jobs.
    endpoints = sorted(routes_of(fuzzed.client.app), key=lambda e: e[0] == "DELETE" or e[1].path.endswith("/delete"))
    assert len(endpoints) >= 30  # the panel's and the API's routes today

    # Path ids: half of them name something that exists (a job, a user, a token).
    path_values = st.one_of(st.sampled_from(fuzzed.real_ids), PATH_VALUES)

    def fuzz_route(method: str, route: Route) -> None:
        def fuzz(query: dict[str, str], ids: dict[str, str]) -> None:
            path = with_query(fill(route, ids), query)
            response = fuzzed.send(method, route, path)
            assert_no_server_error(response, method, path, caplog)
            statuses[(method, route.path, response.status_code)] += 1

        test = hypothesis.given(query=queries(names),
                                ids=st.fixed_dictionaries({name: path_values for name in params_of(route)}))(fuzz)
        # Besides the generated cases, each value of EVERYWHERE in every query parameter at once
        # (the path naming a real job, which is PROCESS OK), and as every path id.
        for value in EVERYWHERE:
            # A long value in every parameter at once would pass the client's URL limit (64 KiB):
            # it goes into a few parameters at a time.
            per_url = max(1, 40_000 // (len(value) + 20))
            for start in range(0, len(names), per_url):
                test = hypothesis.example(query=dict.fromkeys(names[start:start + per_url], value),
                                          ids=dict.fromkeys(params_of(route), fuzzed.job_id))(test)
            if params_of(route):
                test = hypothesis.example(query={}, ids=dict.fromkeys(params_of(route), value))(test)
        hypothesis.settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=True, database=None, deadline=None,
                            suppress_health_check=list(hypothesis.HealthCheck))(test)()

    for method, route in endpoints:
        fuzz_route(method, route)

    # Every route was reached, and not only through 404s and redirects.
    reached = {(method, path) for method, path, _ in statuses}
    assert reached == {(method, route.path) for method, route in endpoints}
    assert {status for _, _, status in statuses} >= {200, 303, 400, 404}, sorted(statuses)
    print(f"\nfuzzed {sum(statuses.values())} requests on {len(endpoints)} routes; renewed {dict(fuzzed.renewed)}; "
          f"statuses {sorted(Counter(status for _, _, status in statuses.elements()).items())}")

    # The server still answers, to the public, the panel and the API.
    client = fuzzed.client
    assert client.get("/").status_code == 200
    fuzzed.sign_in()
    fuzzed.new_token()
    assert client.get("/jobs").status_code == 200
    assert client.get("/api/jobs", headers=fuzzed.api).status_code == 200
    assert client.get("/jobs/updates", params={"since": datetime.now(UTC).isoformat()}).status_code == 200
