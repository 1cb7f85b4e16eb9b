"""Deploying a model directory uploaded as a .zip: the unpacking checks (traversal, links,
encryption, zip bombs, junk), the registry on SQLite and MariaDB, the Models page and
``POST /api/models`` (administrators only), and an uploaded version scoring a CSV exactly as
the pipeline does. Also: an upload whose header fits another model says which."""

from __future__ import annotations

import html
import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from app.core.errors import FileRejected, InvalidRequest
from app.core.registry.archive import unpack_model_archive
from app.core.registry.models import Registry
from model.artifact import build_schema, save_model
from model.loading import load_model
from scheduler.worker import Worker
from tests.conftest import assert_json_error
from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline
from tests.panel_helpers import csrf_of, login

MB = 1024 * 1024


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    train = churn_frame(300, seed=1)
    X = train[FEATURES]
    y = np.where(X["plan"].eq("gold"), "stays", "churns")
    pipeline = churn_pipeline().fit(X, y)
    directory = tmp_path_factory.mktemp("churn") / "churn-model"
    save_model(pipeline, build_schema(pipeline, X, "churn-typed-1", optional=["discount"]), directory)
    return pipeline, directory


def zip_dir(directory: Path, top: str | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """A .zip of the directory's files, under ``top/`` when given (as zipping a folder does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                name = path.relative_to(directory).as_posix()
                bundle.write(path, f"{top}/{name}" if top else name)
        for name, data in (extra or {}).items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def archive_of(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for info, data in entries:
            bundle.writestr(info, data)
    return buffer.getvalue()


def unpack(tmp_path: Path, data: bytes, limit: int = 50 * MB, max_entries: int = 10_000) -> Path:
    archive = tmp_path / "upload.zip"
    archive.write_bytes(data)
    target = tmp_path / "target"
    target.mkdir()
    return unpack_model_archive(archive, target, limit, max_entries)


# -- unpacking ------------------------------------------------------------------------------------
def test_a_zipped_folder_unpacks_to_the_model_directory(tmp_path: Path, churn) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    data = zip_dir(directory, top="churn-model", extra={"__MACOSX/churn-model/._schema.json": b"junk"})
    model_dir = unpack(tmp_path, data)
    assert model_dir == tmp_path / "target"
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(p.name for p in directory.iterdir())
    assert not (model_dir / "__MACOSX").exists()
    assert load_model(model_dir).version == "churn-typed-1"


def test_files_at_the_top_unpack_as_they_are(tmp_path: Path, churn) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    model_dir = unpack(tmp_path, zip_dir(directory))
    assert (model_dir / "schema.json").is_file() and (model_dir / "model.joblib").is_file()


@pytest.mark.parametrize("name", ["../evil.txt", "model/../../evil.txt", "/etc/evil.txt", "C:/evil.txt",
                                  "model\\..\\evil.txt"])
def test_an_entry_that_leaves_the_directory_is_refused(tmp_path: Path, name: str) -> None:
    data = archive_of([("schema.json", b"{}"), (name, b"owned")])
    with pytest.raises(InvalidRequest) as caught:
        unpack(tmp_path, data)
    assert name in caught.value.message
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/evil.txt").exists()


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("model.joblib")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = archive_of([("schema.json", b"{}"), (link, b"/etc/passwd")])
    with pytest.raises(InvalidRequest, match="symbolic link"):
        unpack(tmp_path, data)
    assert not (tmp_path / "target" / "model.joblib").exists()


def set_encrypted_flag(data: bytes, name: str) -> bytes:
    """Set bit 0 of the general purpose flags (what `zip -e` sets) in the entry's local header
    and its central directory record: Python's zipfile cannot write encrypted entries."""
    out, encoded = bytearray(data), name.encode()
    for signature, flags_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        at = out.find(signature)
        while at >= 0:
            length = int.from_bytes(out[at + name_len_at:at + name_len_at + 2], "little")
            if bytes(out[at + name_at:at + name_at + length]) == encoded:
                out[at + flags_at] |= 0x1
            at = out.find(signature, at + 4)
    return bytes(out)


def test_an_encrypted_entry_is_refused_with_a_message(tmp_path: Path) -> None:
    data = set_encrypted_flag(archive_of([("schema.json", b"{}"), ("model.joblib", b"\x00" * 64)]), "model.joblib")
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("model.joblib").flag_bits & 0x1
    with pytest.raises(InvalidRequest, match="encrypted"):
        unpack(tmp_path, data)


def test_a_zip_bomb_stops_at_the_unpacked_limit(tmp_path: Path) -> None:
    data = archive_of([("schema.json", b"{}"), ("model.joblib", b"\0" * (40 * MB))])
    assert len(data) < MB  # 40 MB of zeros deflate to about 40 KB
    with pytest.raises(InvalidRequest, match="MODEL_UNPACKED_LIMIT"):
        unpack(tmp_path, data, limit=10 * MB)
    written = sum(p.stat().st_size for p in (tmp_path / "target").rglob("*") if p.is_file())
    assert written <= 10 * MB


def test_an_archive_lying_about_its_sizes_is_still_capped(tmp_path: Path) -> None:
    """The declared size is patched down to 1 byte in both headers: the check before unpacking
    passes, and the count of bytes actually inflated stops it (or zipfile's own size check)."""
    data = bytearray(archive_of([("schema.json", b"{}"), ("model.joblib", b"\0" * (20 * MB))]))
    true_size = (20 * MB).to_bytes(4, "little")
    count = 0
    at = data.find(true_size)
    while at >= 0:
        data[at:at + 4] = (1).to_bytes(4, "little")
        count += 1
        at = data.find(true_size, at + 4)
    assert count == 2  # the local header and the central directory
    with pytest.raises(InvalidRequest):
        unpack(tmp_path, bytes(data), limit=5 * MB)
    written = sum(p.stat().st_size for p in (tmp_path / "target").rglob("*") if p.is_file())
    assert written <= 5 * MB


@pytest.mark.parametrize(("data", "words"), [
    (archive_of([("schema.json", b"{}")] + [(f"f{i}.txt", b"x") for i in range(30)]), r"at most 10\."),
    (b"PK\x03\x04 not really", "not a .zip"),
    (archive_of([("readme.txt", b"hello")]), "holds no model"),
    (archive_of([("schema.json", b"{}"), ("Schema.JSON", b"{}")]), "twice"),
], ids=["too-many-entries", "not-a-zip", "no-model", "duplicate"])
def test_junk_archives_are_refused_with_a_reason(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        unpack(tmp_path, data, max_entries=10)


def many_entries(count: int) -> bytes:
    """A real zip64 archive of ``count`` empty stored entries, written directly (zipfile's own
    writer takes tens of seconds for 300,000 entries)."""
    import struct
    import zlib
    local, central = [], []
    offset = 0
    crc = zlib.crc32(b"")
    for i in range(count):
        name = f"f{i:07d}.txt".encode()
        header = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0) + name
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 20, 0, 0, 0, 0, crc, 0, 0,
                                   len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    zip64_at = offset + len(directory)
    end = (struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), offset)
           + struct.pack("<4sIQI", b"PK\x06\x07", 0, zip64_at, 1)
           + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), offset, 0))
    return b"".join(local) + directory + end


def test_300000_entries_are_refused_from_the_central_directory_count(tmp_path: Path) -> None:
    """The count comes from the end record, before zipfile reads the entries: before, 300,000
    ZipInfo objects were built (about 100 MB) and only then counted."""
    import tracemalloc
    data = many_entries(300_000)
    assert len(zipfile.ZipFile(io.BytesIO(data)).infolist()) == 300_000  # a valid archive
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRequest) as caught:
            unpack(tmp_path, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.message == "The archive has 300,000 entries; a model archive may have at most 10,000."
    assert peak < 2 * MB, peak
    assert list((tmp_path / "target").iterdir()) == []


@pytest.mark.parametrize(("entries", "named"), [
    ([("schema.json", b"{}"), ("model", b"file"), ("model/weights.bin", b"x")], "'model'"),
    ([("schema.json", b"{}"), ("Data/a.txt", b"x"), ("data", b"file")], "'data'"),
    ([("schema.json", b"{}"), (zipfile.ZipInfo("extra/"), b""), ("Extra", b"file")], "'Extra'"),
], ids=["file-then-folder", "folder-then-file-other-case", "folder-entry"])
def test_a_file_and_a_folder_of_one_name_are_refused_naming_the_entry(
        tmp_path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]], named: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        unpack(tmp_path, archive_of(entries))
    assert named in caught.value.message and "same name as a folder" in caught.value.message
    assert str(tmp_path) not in caught.value.message


@pytest.mark.parametrize("name", ["m/" + "a" * 300 + ".bin", "/".join(["d" * 200] * 6) + "/x"],
                         ids=["one-name", "whole-path"])
def test_a_name_too_long_is_refused_naming_the_entry(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        unpack(tmp_path, archive_of([("schema.json", b"{}"), (name, b"x")]))
    assert "too long" in caught.value.message and name[:40] in caught.value.message
    assert str(tmp_path) not in caught.value.message


# -- the registry, both engines ------------------------------------------------------------------
def test_deploy_archive_registers_it_and_leaves_no_staging(settings, db, churn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    archive = tmp_path / "churn.zip"
    archive.write_bytes(zip_dir(directory, top="churn-model"))
    registry = Registry(db, settings)
    record = registry.deploy_archive(archive, "churn", None, activate=True, deployed_by="admin")
    assert (record.name, record.version, record.active, record.deployed_by) == ("churn", "churn-typed-1", True,
                                                                              "admin")
    assert registry.active("churn") == record
    assert sorted(p.name for p in settings.models_dir.iterdir()) == ["churn"]  # no .upload-* left

    broken = tmp_path / "broken.zip"
    broken.write_bytes(archive_of([("schema.json", b"{not json"), ("model.joblib", b"nope")]))
    with pytest.raises(FileRejected) as caught:
        registry.deploy_archive(broken, "churn", "v9", deployed_by="admin", label="“broken.zip”")
    assert caught.value.message.startswith("“broken.zip” is not a usable model")
    assert registry.get("churn", "v9") is None
    assert sorted(p.name for p in settings.models_dir.iterdir()) == ["churn"]


# -- the Models page -----------------------------------------------------------------------------
@pytest.fixture
def as_admin(app, admin):  # type: ignore[no-untyped-def]
    with TestClient(app) as boss:
        yield boss, login(boss, "admin", "admin-password-1")


def panel_deploy(client: TestClient, csrf: str | None, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    form = {"csrf_token": csrf, **fields} if csrf else fields
    return client.post("/models/deploy", data=form, files={"archive": ("churn.zip", data, "application/zip")},
                       follow_redirects=False)


def flash_texts(page: str) -> list[str]:
    import re
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)]


def test_an_admin_deploys_a_zip_on_the_models_page(as_admin, settings, db, churn) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_admin
    _, directory = churn
    page = client.get("/models").text
    assert 'action="/models/deploy"' in page and 'name="archive"' in page
    response = panel_deploy(client, csrf, zip_dir(directory, top="churn-model"), name="churn", activate="on")
    assert response.status_code == 303 and response.headers["location"] == "/models#model-churn"
    page = client.get("/models").text
    record = Registry(db, settings).active("churn")
    assert record is not None and record.version == "churn-typed-1" and record.deployed_by == "admin"
    assert f"Model churn version churn-typed-1 (SHA-256 {record.sha256[:12]}) is now active" in page
    assert 'id="model-churn"' in page

    again = panel_deploy(client, csrf, zip_dir(directory), name="churn")
    assert again.status_code == 303 and again.headers["location"] == "/models#deploy"
    assert "is deployed already" in client.get("/models").text
    junk = panel_deploy(client, csrf, b"this is no zip", name="other")
    assert junk.status_code == 303
    assert "not a .zip archive" in client.get("/models").text
    assert Registry(db, settings).get("other", "churn-typed-1") is None
    # Nothing of the uploads is left: no .part in the input directory, no staging directory.
    assert list(settings.input_dir.glob("*")) == []
    assert not [p.name for p in settings.models_dir.iterdir() if p.name.startswith(".")]


def test_only_admins_deploy_and_the_csrf_token_comes_first(client, alice, as_admin, settings, db, churn) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    data = zip_dir(directory)
    csrf = login(client, "alice", "alice-password-1")
    refused = panel_deploy(client, csrf, data, name="churn")
    assert refused.status_code == 403
    boss, _ = as_admin
    forged = panel_deploy(boss, None, data, name="churn")
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert Registry(db, settings).get("churn", "churn-typed-1") is None
    assert not [p for p in settings.input_dir.glob("*")]
    anonymous = TestClient(client.app).post("/models/deploy", files={"archive": ("a.zip", data)},
                                            follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


# -- the API -------------------------------------------------------------------------------------
def api_deploy(client: TestClient, headers: dict[str, str], data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/api/models", headers=headers, data=fields,
                       files={"archive": ("churn.zip", data, "application/zip")})


def test_post_api_models_deploys_and_the_new_model_scores_like_the_pipeline(  # type: ignore[no-untyped-def]
        api_client, settings, db, admin, alice, bearer, churn, tmp_path: Path) -> None:
    pipeline, directory = churn
    boss = bearer(admin)
    response = api_deploy(api_client, boss, zip_dir(directory, top="m"), name="churn", version="v1",
                          activate="true")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["version"], body["active"], body["deployed_by"]) == ("churn", "v1", True, "admin")
    assert len(body["sha256"]) == 64 and [f["name"] for f in body["features"]] == FEATURES
    assert "churn" in [m["name"] for m in api_client.get("/api/models", headers=boss).json()["models"]]

    assert_json_error(api_deploy(api_client, boss, zip_dir(directory), name="churn", version="v1"), 409,
                      "deployed already")
    assert_json_error(api_deploy(api_client, boss, b"garbage", name="churn", version="v2"), 422, "not a .zip")
    assert_json_error(api_deploy(api_client, boss, zip_dir(directory), name="../x"), 400, "not allowed")
    assert_json_error(api_deploy(api_client, bearer(alice), zip_dir(directory), name="churn", version="v3"), 403)
    assert_json_error(api_client.post("/api/models", files={"archive": ("a.zip", b"x")}), 401)

    # The uploaded version scores a CSV through the API as the pipeline itself does.
    frame = churn_frame(40, seed=7)
    csv_bytes = frame.to_csv(index=False).encode()
    job = api_client.post("/api/jobs", headers=bearer(alice), data={"model": "churn"},
                          files={"file": ("customers.csv", csv_bytes, "text/csv")})
    assert job.status_code == 201, job.text
    assert (job.json()["model"], job.json()["model_version"]) == ("churn", "v1")
    assert Worker(settings, db).drain()
    result = api_client.get(f"/api/jobs/{job.json()['id']}/result?format=csv", headers=bearer(alice))
    assert result.status_code == 200, result.text
    scored = pd.read_csv(io.BytesIO(result.content))
    expected = pipeline.predict(  # type: ignore[attr-defined]
        pd.read_csv(io.BytesIO(csv_bytes), parse_dates=["signup"])[FEATURES])
    assert list(scored["prediction"]) == list(expected)


@pytest.mark.parametrize(("entries", "words"), [
    ([("schema.json", b"{}"), ("model", b"file"), ("model/weights.bin", b"x")], "'model' is a file"),
    ([("schema.json", b"{}"), ("w/" + "a" * 300, b"x")], "too long"),
    ([("schema.json", b"{}"), ("../../etc/x", b"x")], "'../../etc/x' points outside"),
    ([("schema.json", b"{}"), ("/abs/x", b"x")], "'/abs/x' points outside"),
], ids=["clash", "too-long", "dot-dot", "absolute"])
def test_entry_problems_are_422_naming_the_entry_never_a_server_path(  # type: ignore[no-untyped-def]
        api_client, settings, admin, bearer, entries, words, caplog) -> None:
    response = api_deploy(api_client, bearer(admin), archive_of(entries), name="churn")
    assert_json_error(response, 422, words)
    assert str(settings.models_dir) not in response.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_the_upload_limit_for_archives_is_model_upload_limit(make_settings, db, admin, bearer, churn) -> None:  # type: ignore[no-untyped-def]
    from app.web import create_app
    _, directory = churn
    data = zip_dir(directory)
    small = make_settings(MODEL_UPLOAD_LIMIT=str(len(data) - 1))
    with TestClient(create_app(small, db)) as client:
        response = api_deploy(client, bearer(admin), data, name="churn")
    assert_json_error(response, 413, "larger than the upload limit")
    assert ".csv.gz" not in response.text  # the advice for data files is not for a model archive


# -- a header that fits another model ------------------------------------------------------------
def test_a_file_for_another_model_names_it(api_client, settings, db, alice, bearer, churn, app) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    registry = Registry(db, settings)
    registry.default()
    registry.deploy(directory, "churn", activate=True)
    csv_bytes = churn_frame(10, seed=3).to_csv(index=False).encode()
    response = api_client.post("/api/jobs", headers=bearer(alice),
                               files={"file": ("customers.csv", csv_bytes, "text/csv")})
    body = assert_json_error(response, 422, "Its header fits only model “churn”", "model=churn")
    assert body["fits_models"] == ["churn"]

    with TestClient(app) as browser:
        csrf = login(browser, "alice", "alice-password-1")
        page = browser.post("/jobs/upload", data={"csrf_token": csrf},
                            files={"file": ("customers.csv", csv_bytes, "text/csv")}, follow_redirects=False)
        assert page.status_code == 422
        text = html.unescape(page.text)
        assert "Its header fits only model “churn”" in text and "It is selected now" in text
        assert '<option value="churn" selected' in page.text
        csrf = csrf_of(page.text)
        accepted = browser.post("/jobs/upload", data={"csrf_token": csrf, "model": "churn"},
                                files={"file": ("customers.csv", csv_bytes, "text/csv")}, follow_redirects=False)
        assert accepted.status_code == 303


def test_a_file_wrong_in_its_cells_names_no_other_model(api_client, settings, db, alice, bearer, churn) -> None:  # type: ignore[no-untyped-def]
    _, directory = churn
    registry = Registry(db, settings)
    registry.default()
    registry.deploy(directory, "churn", activate=True)
    frame = churn_frame(10, seed=3)
    frame["seats"] = frame["seats"].astype(str)
    frame.loc[2, "seats"] = "many"
    response = api_client.post("/api/jobs", headers=bearer(alice), data={"model": "churn"},
                               files={"file": ("c.csv", frame.to_csv(index=False).encode(), "text/csv")})
    body = assert_json_error(response, 422)
    assert "fits_models" not in body and "fits" not in body["error"]
