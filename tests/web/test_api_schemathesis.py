"""schemathesis against the live application, on SQLite and MariaDB: every operation that
/openapi.json describes, with an administrator's API token, through schemathesis's examples,
coverage and fuzzing phases (valid and invalid data) and every default check (no 500, status
codes, content types, headers and bodies as described, invalid data refused, valid data
accepted, credentials really needed); then stateful scenarios that follow the description's
OpenAPI links from a submitted job (POST /api/jobs -> GET/DELETE /api/jobs/{id}, /result,
/retry, /archive, /unarchive) and check what the chain implies (a created job can be read, a
deleted one is gone).

Any disagreement between the server and its description fails here, so /openapi.json stays
true. The runs are deterministic: a fixed seed, derandomized generation, no example database,
and the stateful scenarios in seeded suites as schemathesis's own runner makes them.

/process_file and /process_all start a worker process per run (about 1.5 s each), so they
are left out of the main run and the stateful one and get a run of their own with a handful
of fuzzed cases.
"""

from __future__ import annotations

import copy
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from starlette.testclient import TestClient

from app.core.accounts.throttle import Policy
from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import Database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings, load_settings
from app.web.api.openapi import openapi_document
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame

SEED = 20261201
MAX_EXAMPLES = 30  # per operation in the fuzzing phase; the examples and coverage phases add their own
WORKER_PATHS = r"^/process_"  # each run starts a worker process
OTHER_PATHS = r"^/(?!process_)"  # (SCHEMA.include() ignores its filter when the config has [[operations]])
WORKER_MAX_EXAMPLES = 3
STATEFUL_SCENARIOS = 60
STATEFUL_SUITES = 5
STATEFUL_STEPS = 10

CONFIG = SchemathesisConfig.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "operations": [
        # Any bytes fit the upload's schema; only a CSV that fits the model is accepted, the
        # rest is the documented 422 (413 past the limit).
        {"include-operation-id": "create_job",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "413", "422"]}}},
        # A URL that fits the schema is still refused (400) when its host does not resolve or
        # resolves to a private address (this machine resolves no public names).
        # A long fuzzed body is refused by the body cap (413) before its fields are judged.
        {"include-operation-id": "create_webhook",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "413"]},
                    "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406",
                                                                      "409", "413", "415", "422"]}}},
        # Any bytes fit the archive's schema; only a .zip of a model directory deploys, the rest
        # is the documented 422 (409 for a version that exists, 413 past MODEL_UPLOAD_LIMIT).
        {"include-operation-id": "deploy_model",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "409", "413", "422"]}}},
        # since/until are text read as a date or a date-time: another text is a 400 naming it.
        {"include-operation-id": "list_audit",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403"]}}},
        {"include-path-regex": WORKER_PATHS, "generation": {"max-examples": WORKER_MAX_EXAMPLES}},
    ],
})


def csv_text(rows: int, seed: int) -> str:
    return str(breast_cancer_frame(rows, seed).to_csv(index=False))


# Uploads the model accepts (fresh PENDING jobs, so the links have something to follow) and one
# it refuses (a word in a number column: 422).
GOOD_CSVS = [csv_text(3, 1), csv_text(7, 2)]
BAD_CSV = csv_text(3, 3).replace("\n", "\n12,twelve,", 1)


def flatmap_case(context: Any, case: Any) -> st.SearchStrategy:
    """Let some valid POST /api/jobs cases carry a real CSV instead of random bytes (which are
    always a 422); invalid cases are left as generated."""
    meta = case.meta
    if context.operation.label != "POST /api/jobs" or meta is None or not meta.generation.mode.is_positive:
        return st.just(case)

    def carrying(content: str) -> Any:
        case.body = {"file": content}
        return case

    return st.one_of(st.just(case), st.sampled_from([*GOOD_CSVS, BAD_CSV]).map(carrying))


class AppUnderTest:
    """The ASGI application schemathesis talks to: it hands every request to the application
    of the test running now. schemathesis's pytest integration wants its schema when the
    module is imported, but each test builds its own application on its own database.
    (schemathesis.pytest.from_fixture would load it per test, but schemathesis 4.32 sets
    `Node._nodeid` there, which pytest 9.2 no longer has.)"""

    def __init__(self) -> None:
        self.current: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return  # each test runs its own application's lifespan (the `auth` fixture)
        assert self.current is not None, "no application under test"
        await self.current(scope, receive, send)


UNDER_TEST = AppUnderTest()
# The description as the application serves it with the tests' settings (the upload limit is
# the only setting it shows); the `auth` fixture checks that the served one is this one.
DOCUMENT = openapi_document(load_settings(config_path=os.devnull, environ={}, overrides={"SECRET_KEY": "x" * 32}))
# A copy: schemathesis resolves references in place, and DOCUMENT shares its components with
# app/web/api/openapi.py's module-level dicts.
SCHEMA = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)
SCHEMA.app = UNDER_TEST  # as schemathesis.openapi.from_asgi does after loading
SCHEMA.hook(flatmap_case)


def seed_jobs(settings: Settings, db: Database, owner_id: int, tmp_path: Any) -> None:
    """One job in every state, so small ids reach real answers (200 with a file, 409s)."""
    jobs = Jobs(db)

    def submit(name: str) -> int:
        path = tmp_path / name
        path.write_text(GOOD_CSVS[0])
        return submit_path(settings, jobs, owner_id, path).id

    worker = Worker(settings, db)
    claim = worker.claim(submit("done.csv"))
    assert claim is not None
    worker.run_claim(claim)  # PROCESS OK, with results on disk
    failed = worker.claim(submit("failed.csv"))
    assert failed is not None
    jobs.fail(failed, "failed on purpose")  # ERROR
    jobs.set_archived(submit("archived.csv"), True)  # PENDING, archived
    assert jobs.claim(submit("running.csv"), "schemathesis-test") is not None  # IN PROCESS
    submit("waiting.csv")  # PENDING


@pytest.fixture
def auth(app, settings: Settings, db: Database, tmp_path) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The headers of every call (an administrator's token) to the application under test:
    this test's, lifespan started, on its database, seeded with jobs."""
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == DOCUMENT
        admin = Users(db).create("admin", "admin-password-1", is_admin=True)
        token, _ = Tokens(db).create(admin.id, "schemathesis")
        seed_jobs(settings, db, admin.id, tmp_path)
        # schemathesis sends invalid Basic credentials hundreds of times from one address: the
        # throttle would pause them (a 429, which its invalid-auth check does not allow for) and
        # is not what this test is about (tests/core/test_auth_throttle.py is).
        app.state.users.throttle.policy = Policy(free_per_pair=10**9, per_name=10**9, per_client=10**9)
        UNDER_TEST.current = app
        try:
            yield {"Authorization": f"Bearer {token}"}
        finally:
            UNDER_TEST.current = None


@pytest.fixture
def tally() -> Iterator[Counter]:
    counts: Counter = Counter()
    started = time.monotonic()
    yield counts
    print(f"\nschemathesis: {sum(counts.values())} cases in {time.monotonic() - started:.1f} s: {dict(counts)}")


# -- every operation, one at a time ---------------------------------------------------------
# The fixtures hold the application and its database for all of an operation's cases, on purpose.
SHARED_FIXTURES = hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])


@SCHEMA.exclude(path_regex=WORKER_PATHS).parametrize()
@SHARED_FIXTURES
def test_every_operation_answers_as_described(case, auth, tally) -> None:  # type: ignore[no-untyped-def]
    response = case.call_and_validate(headers=dict(auth))
    tally[f"{case.method} {case.path} {response.status_code}"] += 1


@pytest.mark.procs
@SCHEMA.exclude(path_regex=OTHER_PATHS).parametrize()
@SHARED_FIXTURES
def test_the_worker_endpoints_answer_as_described(case, auth, tally) -> None:  # type: ignore[no-untyped-def]
    response = case.call_and_validate(headers=dict(auth))
    tally[f"{case.method} {case.path} {response.status_code}"] += 1


# -- stateful: follow the links ---------------------------------------------------------------
@pytest.mark.slow
def test_following_the_links_from_a_submitted_job(auth, tally) -> None:  # type: ignore[no-untyped-def]
    base: Callable[..., Any] = SCHEMA.exclude(path_regex=WORKER_PATHS).as_state_machine()
    found: dict[str, str] = {}  # each distinct failure, with schemathesis's report of its first occurrence
    scenarios: list[int] = []

    class Scenarios(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            scenarios.append(1)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": dict(auth)}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            tally[f"{case.method} {case.path} {response.status_code}"] += 1

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            # Recorded rather than raised, so one run reports every distinct failure and
            # Hypothesis never replays a scenario against a database the first run changed.
            try:
                super().validate_response(response, case, additional_checks=additional_checks, **kwargs)
            except schemathesis.errors.FailureGroup as group:
                for failure in group.exceptions:
                    found.setdefault(f"{case.method} {case.path}: {failure.title}", str(group))

    # As schemathesis's own runner does: suites of scenarios, each with its own seed and rule
    # order. A suite ends early when Hypothesis finds that generation changed between two
    # scenarios (schemathesis learns from the answers it gets); the next suite goes on.
    for suite in range(STATEFUL_SUITES):
        remaining = STATEFUL_SCENARIOS - len(scenarios)
        if remaining <= 0:
            break
        machine = hypothesis.seed(SEED + suite)(type(f"Suite{suite}", (Scenarios,), {"rule_order_seed": SEED + suite}))
        try:
            machine.run(settings=hypothesis.settings(
                max_examples=remaining, stateful_step_count=STATEFUL_STEPS, database=None, deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
            ))
        except hypothesis.errors.Flaky:
            pass
    assert not found, "\n".join([f"{len(found)} distinct failures: {sorted(found)}", *found.values()])
    print(f"\nstateful: {len(scenarios)} scenarios")
    assert len(scenarios) >= STATEFUL_SCENARIOS // 2, len(scenarios)
    # The scenarios went past the submission into the job's life.
    assert tally["POST /api/jobs 201"] > 0, tally
    followed = {key.rsplit(" ", 1)[0] for key, n in tally.items() if key.endswith((" 200", " 409")) and n}
    assert {"GET /api/jobs/{id}", "DELETE /api/jobs/{id}", "POST /api/jobs/{id}/archive"} <= followed, tally
