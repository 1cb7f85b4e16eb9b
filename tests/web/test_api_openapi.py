"""/openapi.json: it describes every API route, its references resolve, and a property-based
run (hypothesis) over the operations it lists - valid and hostile parameters, with and
without credentials - finds no 500 and no answer that breaks the documented schema.

The schema check is a small JSON Schema validator for exactly the keywords app/web/api/openapi.py
uses; an unknown keyword fails the test, so the validator cannot silently skip a rule.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.core.events.audit import Entry
from app.core.events.webhooks import Attempt, Delivery, Webhook
from app.core.jobs.inputs import UploadInput
from app.core.jobs.quality import QualitySummary
from app.core.jobs.records import Job, JobEvent
from app.core.jobs.submissions import submit_path
from app.core.registry.models import ModelRecord
from app.web import api
from app.web.api.jobs import job_json
from app.web.api.models import deployed_json, model_json
from app.web.api.openapi import SCHEMAS

ANNOTATIONS = {"description", "default", "contentMediaType"}
CHECKED = {"$ref", "type", "properties", "required", "items", "enum", "const", "minimum", "maximum", "format",
           "anyOf", "maxLength", "minLength", "pattern"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def violations(doc: dict, schema: dict, value: Any, where: str = "$") -> list[str]:
    schema = resolve(doc, schema)
    unknown = set(schema) - CHECKED - ANNOTATIONS
    assert not unknown, f"validator does not know {unknown} at {where}"
    if "anyOf" in schema:
        branches = [violations(doc, sub, value, f"{where}<anyOf {i}>") for i, sub in enumerate(schema["anyOf"])]
        if all(branches):
            return [problem for branch in branches for problem in branch]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](value) for k in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} != {schema['const']!r}")
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(f"{where}: {len(value)} characters > {schema['maxLength']}")
    if isinstance(value, str) and "minLength" in schema and len(value) < schema["minLength"]:
        found.append(f"{where}: {len(value)} characters < {schema['minLength']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: {value} > {schema['maximum']}")
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            assert datetime.fromisoformat(value).tzinfo is not None
        except (ValueError, AssertionError):
            found.append(f"{where}: {value!r} is not an ISO-8601 time with an offset")
    if isinstance(value, dict):
        found += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += violations(doc, sub, value[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += violations(doc, schema["items"], item, f"{where}[{i}]")
    return found


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


@pytest.fixture
def doc(api_client) -> dict:  # type: ignore[no-untyped-def]
    response = api_client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


# -- the document -------------------------------------------------------------------------------
def test_every_api_route_is_described_and_nothing_else(doc) -> None:  # type: ignore[no-untyped-def]
    assert doc["openapi"] == "3.1.0"
    served = {("/", "get")}
    for route in api.routes:
        served |= {(route.path, m.lower()) for m in route.methods if m != "HEAD"}  # type: ignore[attr-defined]
    described = {(path, method) for path, method, _ in operations(doc)}
    assert served == described


def test_the_document_is_consistent(doc) -> None:  # type: ignore[no-untyped-def]
    refs = re.findall(r'"\$ref": "([^"]+)"', __import__("json").dumps(doc))
    for ref in refs:
        resolve(doc, {"$ref": ref})  # KeyError if dangling
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(doc):
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
        needs_auth = op.get("security", doc["security"]) != []
        assert ("401" in op["responses"]) == needs_auth, (path, method)
        for response in op["responses"].values():
            resolve(doc, response)["description"]
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth"}


def test_the_document_needs_no_credentials_and_shows_the_upload_limit(api_client) -> None:  # type: ignore[no-untyped-def]
    body = api_client.get("/openapi.json").json()
    assert "200.0 MB" in body["paths"]["/api/jobs"]["post"]["description"]


def test_links_lead_from_every_job_answer_to_what_can_be_done_with_it(doc) -> None:  # type: ignore[no-untyped-def]
    by_id = {op["operationId"]: op for _, _, op in operations(doc)}
    on_one_job = {op["operationId"] for path, _, op in operations(doc) if path.startswith("/api/jobs/{id}")}
    answering_a_job = []
    for path, method, op in operations(doc):
        for status, response in op["responses"].items():
            schema = resolve(doc, response).get("content", {}).get("application/json", {}).get("schema")
            if schema not in ({"$ref": "#/components/schemas/Job"}, {"$ref": "#/components/schemas/CreatedJob"}):
                assert "links" not in resolve(doc, response), (path, method, status)
                continue
            answering_a_job.append(op["operationId"])
            links = response["links"]
            for link in links.values():
                declared = {p["name"] for p in by_id[link["operationId"]]["parameters"] if p["in"] == "path"}
                assert link["parameters"] == {"id": "$response.body#/id"} and declared == {"id"}, link
            # Every operation on one job, except the one that answered.
            assert {link["operationId"] for link in links.values()} == on_one_job - {op["operationId"]}, (path, method)
    assert sorted(answering_a_job) == ["archive_job", "cancel_job", "create_job", "get_job", "retry_job", "unarchive_job"]


def _parameters(doc: dict) -> list[tuple[str, str, dict, dict]]:
    return [(path, method, op, param) for path, method, op in operations(doc) for param in op.get("parameters", [])]


def _ask(api_client, headers: dict, path: str, method: str, param: dict, value: str):  # type: ignore[no-untyped-def]
    """`path` with `param` set to `value` (a path id, or one query parameter next to a valid id)."""
    url, query = path.replace("{id}", "1"), {}
    if param["in"] == "path":
        url = path.replace("{" + param["name"] + "}", quote(value, safe="") or "%20")
    else:
        query = {"id": "1"} if path == "/process_file" and param["name"] != "id" else {}
        query[param["name"]] = value
    return api_client.request(method.upper(), url, params=query, headers=headers)


def test_an_empty_parameter_is_a_400_naming_it_everywhere(api_client, doc, admin, bearer) -> None:  # type: ignore[no-untyped-def]
    """The documented choice: an empty value is not "absent" (that would be a silent default)
    but a value outside the schema, for every parameter the description lists."""
    headers = bearer(admin)
    queried = set()
    for path, method, _, param in _parameters(doc):
        if param["in"] != "query":
            continue
        response = _ask(api_client, headers, path, method, param, "")
        assert response.status_code == 400, (method, path, param["name"], response.text)
        assert response.json()["parameter"] == param["name"]
        queried.add(param["name"])
    assert queried == {"id", "force", "limit", "offset", "status", "archived", "search", "model", "format", "dialect",
                       "actor", "action", "object_type", "object_id", "since", "until"}  # the last six: /api/audit


def test_integer_bounds_in_the_document_are_the_servers(api_client, doc, admin, bearer) -> None:  # type: ignore[no-untyped-def]
    """Each integer parameter's `minimum` and `maximum` are accepted, one past them is a 400
    naming the parameter (the server reads at most 18 digits: the 19-digit maximum + 1 too)."""
    headers = bearer(admin)
    checked = set()
    for path, method, _, param in _parameters(doc):
        schema = param["schema"]
        if schema.get("type") != "integer":
            continue
        assert "minimum" in schema and "maximum" in schema, (path, param["name"])
        for value in (schema["minimum"] - 1, schema["maximum"] + 1):
            response = _ask(api_client, headers, path, method, param, str(value))
            assert response.status_code == 400 and response.json()["parameter"] == param["name"], \
                (method, path, param["name"], value, response.text)
        for value in (schema["minimum"], schema["maximum"]):
            response = _ask(api_client, headers, path, method, param, str(value))
            assert response.status_code in (200, 404), (method, path, param["name"], value, response.text)
        checked.add(param["name"])
    assert checked >= {"id", "limit", "offset", "webhook_id"}  # every integer parameter of the API, audit ones too


# -- the records' schemas -------------------------------------------------------------------------
def sample(record: type, **values: Any) -> Any:
    """An instance of a record dataclass with a plain value in every field (None where it may be)."""
    plain = {int: 1, float: 1.5, str: "x", bool: False, datetime: datetime(2026, 1, 2, tzinfo=UTC), tuple: (),
             dict: {}, list: []}
    for field in dataclasses.fields(record):
        hint = typing.get_type_hints(record)[field.name]
        if field.name in values:
            continue
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            values[field.name] = None
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            values[field.name] = next(iter(hint))
        else:
            values[field.name] = plain[typing.get_origin(hint) or hint]
    return record(**values)


def delivery_with_an_attempt() -> dict:
    return sample(Delivery, log=(sample(Attempt),)).as_dict()


# Each schema that describes a record, and the JSON the API answers for one.
RECORD_ANSWERS: dict[str, Callable[[], dict]] = {
    "Job": lambda: job_json(sample(Job)),
    "JobEvent": lambda: sample(JobEvent).as_dict(),
    "QualitySummary": lambda: sample(QualitySummary).as_dict(),
    "UploadInput": lambda: sample(UploadInput).as_dict(),
    "AuditEntry": lambda: sample(Entry).as_dict(),
    "Model": lambda: model_json(sample(ModelRecord, schema={"features": []})),
    "DeployedModel": lambda: deployed_json(sample(ModelRecord, schema={"features": []})),
    "WebhookDelivery": delivery_with_an_attempt,
    "WebhookAttempt": lambda: delivery_with_an_attempt()["log"][0],
    # The answer to POST /api/webhooks: the record, its deliveries, its secret.
    "Webhook": lambda: {**sample(Webhook).as_dict(), "deliveries": [], "secret": "whsec_x"},
}


@pytest.mark.parametrize("name", sorted(RECORD_ANSWERS))
def test_a_records_schema_has_exactly_the_keys_of_its_json(name: str) -> None:
    assert set(RECORD_ANSWERS[name]()) == set(SCHEMAS[name]["properties"]), name


# -- property-based run --------------------------------------------------------------------------
HOSTILE = ["", " ", "-1", "0", "1.5", "1e3", "9" * 30, " 7", "7_0", "\u0667", "true", "null", "%00", "'; --",
           "IN PROCESS", "PROCESS OK", "csv", "xlsx", "ERROR", "../etc/passwd", "\u00e9t\u00e9"]


def value_for(schema: dict) -> st.SearchStrategy:
    if "enum" in schema:
        good: st.SearchStrategy = st.sampled_from(schema["enum"])
    elif schema.get("type") == "integer":
        good = st.integers(min_value=schema.get("minimum", -5), max_value=min(schema.get("maximum", 12), 12)).map(str)
    elif schema.get("type") == "boolean":
        good = st.sampled_from(["true", "false", "1", "0"])
    else:  # free text (the audit filters)
        good = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=10)
    # No lone surrogates anywhere: no URL can carry them (the client refuses to encode them), so
    # they would test the test client, not the server.
    junk = st.sampled_from(HOSTILE) | st.text(alphabet=st.characters(exclude_characters="/", exclude_categories=("Cs",)),
                                              max_size=12)
    return st.one_of(good, good, junk)


@st.composite
def calls(draw, doc: dict, csv_bytes: bytes):  # type: ignore[no-untyped-def]
    path, method, op = draw(st.sampled_from(operations(doc)))
    url, query = path, {}
    for param in op.get("parameters", []):
        value = draw(value_for(param["schema"]))
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(value, safe="") or "%20")
        elif param["required"] or draw(st.booleans()):
            query[param["name"]] = value
    who = draw(st.sampled_from(["admin", "alice", "nobody", "stranger"]))
    files = None
    if "requestBody" in op:
        body = draw(st.sampled_from(["valid", "junk", "binary", "none"]))
        content = {"valid": csv_bytes, "junk": draw(st.text(max_size=200)).encode(), "binary": draw(st.binary(max_size=200)),
                   "none": None}[body]
        files = {"file": ("fuzz.csv", content, "text/csv")} if content is not None else None
    return path, method, op, url, query, who, files


@pytest.mark.slow
def test_fuzz_finds_no_500_and_no_answer_outside_the_schema(  # type: ignore[no-untyped-def]
        api_client, doc, settings, jobs, admin, alice, bearer, make_csv):
    from scheduler.worker import Worker

    for owner in (alice, alice, admin):
        submit_path(settings, jobs, owner.id, make_csv(8))
    worker = Worker(settings, api_client.app.state.db)
    worker.run_claim(worker.claim_next())  # one PROCESS OK
    claim = worker.claim_next()
    jobs.fail(claim, "fuzz seed")  # one ERROR
    headers = {"admin": bearer(admin), "alice": bearer(alice), "nobody": {},
               "stranger": {"Authorization": "Bearer byd_stranger"}}
    csv_bytes = make_csv(4).read_bytes()
    seen: set[tuple[str, str, int]] = set()

    @hsettings(max_examples=250, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(call=calls(doc, csv_bytes))
    def run(call) -> None:  # type: ignore[no-untyped-def]
        path, method, op, url, query, who, files = call
        kwargs: dict[str, Any] = {"params": query, "headers": headers[who]}
        if method == "post" and files is not None:
            kwargs["files"] = files
        response = api_client.request(method.upper(), url, **kwargs)
        status = response.status_code
        seen.add((path, method, status))
        assert status < 500, (method, url, query, response.text)
        documented = op["responses"]
        assert str(status) in documented, (method, url, query, status, response.text)
        if status == 401:
            assert "Bearer" in response.headers["www-authenticate"]
        spec = resolve(doc, documented[str(status)])
        media = spec["content"]
        if "application/json" in media:
            assert response.headers["content-type"].startswith("application/json")
            problems = violations(doc, media["application/json"]["schema"], response.json())
            assert not problems, (method, url, query, problems)
        else:
            assert response.headers["content-type"].split(";")[0] in media

    run()
    # The run reached the interesting answers, not only 401s and 400s.
    statuses = {status for _, _, status in seen}
    assert {200, 400, 401, 404}.issubset(statuses), sorted(seen)


def test_validator_catches_a_broken_answer(doc) -> None:  # type: ignore[no-untyped-def]
    job_schema = {"$ref": "#/components/schemas/Job"}
    assert violations(doc, job_schema, {"id": "7"})  # wrong type and missing fields
    assert violations(doc, {"$ref": "#/components/schemas/ProcessResult"},
                      {"result": "x", "Start": "yesterday", "End": "2026-01-01T00:00:00+00:00", "id": 1,
                       "status": "DONE"}) == ["$.Start: 'yesterday' is not an ISO-8601 time with an offset",
                                              "$.status: 'DONE' not in ['PENDING', 'IN PROCESS', 'PROCESS OK', 'ERROR', "
                                              "'CANCELLED']"]
