"""The model registry (table ``models``): every deployed version of every model, which one of
each name is active, and the files, kept read-only in ``MODELS_DIR/NAME/VERSION/``.

A deployed version never changes: deploy copies the model directory to a temporary directory
beside its final place, hashes the copy, records it, and renames it into place; a name and
version are deployed once. ``activate`` promotes a version (or rolls back to an older one): it
switches the active flag of the name in one transaction, so at most one version per name is
active. Jobs record the version active when they were accepted (app/core/jobs/submissions.py), so
an activation changes no accepted job.

The artifact hash (``artifact_sha256``) is the SHA-256 of the directory's files taken in the
order of their relative paths (POSIX, sorted): for each file its path in UTF-8, a NUL byte,
its size as 8 bytes big-endian, then its bytes. Renaming, adding, removing or editing any file
changes it; copying the directory elsewhere does not.

An installation from before the registry keeps working: while the registry holds no model
named DEFAULT_MODEL, the first use (an upload, a worker) registers the directory at
MODEL_PATH under that name and activates it (``python -m app setup`` does it explicitly).
"""

from __future__ import annotations

import builtins  # Registry.list shadows the name inside the class
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from app.core.db import Database, DuplicateKey, Row, parse_time
from app.core.errors import Conflict, FileRejected, InvalidRequest, NotFound, UnknownModel
from app.core.events import audit
from app.core.events.audit import SYSTEM, Actor
from app.core.logfmt import log_event
from app.core.registry.archive import unpack_model_archive
from app.core.registry.trial import try_isolated
from app.core.settings import Settings
from model.artifact import Model
from model.loading import load_model
from model.profile import PROFILE_FILE, sample_profile
from model.schema import FeatureSpec, ModelError, check_id_column, check_version
from model.trial import runtime_text

log = logging.getLogger("beyond.models")

# Names and versions become directory names: letters, digits, '-', '_', '.'; not '.' or '..'.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHUNK = 1024 * 1024


def artifact_sha256(directory: Path) -> str:
    """The hash of a model directory's files (see the module's docstring for the definition)."""
    digest = hashlib.sha256()
    files = sorted((p for p in Path(directory).rglob("*") if p.is_file()),
                   key=lambda p: p.relative_to(directory).as_posix())
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def check_name(value: str, what: str = "model name") -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"The {what} {value!r} is not allowed: use 1 to 64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit."
        )
    return value


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    version: str
    sha256: str
    schema: dict[str, Any]
    deployed_by: str | None  # the panel user's name; None: the command line
    deployed_at: datetime | None
    active: bool

    def directory(self, models_dir: Path) -> Path:
        return models_dir / self.name / self.version

    @cached_property
    def feature_specs(self) -> list[FeatureSpec]:
        return [FeatureSpec.from_schema(f) for f in self.schema["features"]]

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.feature_specs]

    @property
    def id_column(self) -> str | None:
        """The column that identifies a row of an upload (the schema's "id_column"), or None."""
        found = self.schema.get("id_column")
        return found if isinstance(found, str) and found else None

    @property
    def classes(self) -> list[str]:
        """The class labels as results show them (named by the schema's ``labels`` map)."""
        labels = self.schema.get("labels")
        names: dict[str, Any] = labels if isinstance(labels, dict) else {}
        return [str(names.get(str(c), c)) for c in self.schema.get("classes", [])]

    @property
    def warnings(self) -> list[str]:
        """What the deploy found worth knowing: an MLflow model's requirements whose major
        version differs from the service's (model/mlflow_model.py)."""
        found = self.schema.get("mlflow")
        mlflow: dict[str, Any] = found if isinstance(found, dict) else {}
        return [str(w) for w in mlflow.get("requirement_warnings") or []]

    def as_dict(self) -> dict[str, Any]:
        """The public JSON shape (no server paths)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "active": self.active,
            "deployed_at": self.deployed_at.isoformat() if self.deployed_at else None,
            "deployed_by": self.deployed_by,
            "features": [{"name": f.name, "type": f.type, "required": f.required} for f in self.feature_specs],
            "classes": self.classes,
            "runtime": self.runtime,
        }

    @property
    def runtime(self) -> dict[str, Any] | None:
        """What runs the model, found by the deploy trial (app/core/registry/trial.py): library,
        library_version, estimator, format, flavor (MLflow), rows_from, seconds; None for a
        version deployed without one."""
        runtime = self.schema.get("runtime")
        return runtime if isinstance(runtime, dict) else None

    @property
    def runtime_text(self) -> str | None:
        """"scikit-learn 1.9.1 (Pipeline, model.joblib)", or None."""
        return runtime_text(self.runtime) if self.runtime else None


def model_from_row(row: Row) -> ModelRecord:
    return ModelRecord(
        id=int(row["id"]),
        name=row["name"],
        version=row["version"],
        sha256=row["artifact_sha256"],
        schema=json.loads(row["schema_json"]),
        deployed_by=row["deployed_by"],
        deployed_at=parse_time(row["deployed_at"]),
        active=bool(row["active"]),
    )


def _sample_profile(model: Model, sample: Path) -> dict[str, Any]:
    """The training profile of a sample CSV for `model`; InvalidRequest saying what is wrong."""
    import pandas as pd

    try:
        frame = pd.read_csv(sample)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"The sample {sample} cannot be read as a CSV: {exc}") from exc
    if not len(frame):
        raise InvalidRequest(f"The sample {sample} has no data rows.")
    try:
        return sample_profile(model, frame)
    except ValueError as exc:
        raise InvalidRequest(f"The sample {sample} does not fit the model: {exc}") from exc


def _make_read_only(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


class Registry:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    @property
    def models_dir(self) -> Path:
        return self.settings.models_dir

    # -- read -------------------------------------------------------------------------------
    def get(self, name: str, version: str) -> ModelRecord | None:
        row = self.db.one("model_get", {"name": name, "version": version})
        return model_from_row(row) if row else None

    def active(self, name: str) -> ModelRecord | None:
        row = self.db.one("model_active", {"name": name})
        return model_from_row(row) if row else None

    def active_models(self) -> builtins.list[ModelRecord]:
        return [model_from_row(r) for r in self.db.all("models_active")]

    def offered(self) -> builtins.list[ModelRecord]:
        """The models an upload may name: every active version, the default model registered
        first on an installation from before the registry (when it cannot be, the others are
        still offered)."""
        try:
            self.default()
        except ModelError:
            pass
        return self.active_models()

    def list(self) -> builtins.list[ModelRecord]:
        """Every version of every model: by name, newest deployment first."""
        return [model_from_row(r) for r in self.db.all("models_list")]

    # -- deploy / activate --------------------------------------------------------------------
    def deploy(self, source_dir: str | os.PathLike[str], name: str, version: str | None = None,
               activate: bool = False, deployed_by: str | None = None, label: str | None = None,
               actor: Actor | None = None, sample: str | os.PathLike[str] | None = None,
               trial: bool = True, id_column: str | None = None) -> ModelRecord:
        """Register a copy of the model directory as NAME/VERSION (VERSION: the schema's
        version unless given). InvalidRequest for a bad name or version or a directory that
        does not load; Conflict if that version is deployed already. ``label`` names the
        source in messages (default: its path).

        trial: first load the model and predict a few rows in a child process
        (app/core/registry/trial.py); a model that fails is refused (InvalidRequest with its
        own message) and nothing is registered.  What runs the model (library, version,
        format or flavour) is kept as the schema's ``runtime`` entry.

        sample: a CSV of training rows; its training profile (model/profile.py, the quality
        reports' reference) is stored as profile.json in the deployed copy.  For models whose
        schema has no profile, e.g. MLflow models (whose signature gives only the columns).

        id_column: the column that identifies a row (``deploy-model --id-column``), stored in
        the version's schema (it replaces one schema.json names); uploads must then carry it,
        non-empty and unique (model/inputs/scan.py), and results carry it as sent."""
        check_name(name)
        try:
            id_column = check_id_column(id_column)
        except ModelError as exc:
            raise InvalidRequest(str(exc)) from exc
        source = Path(source_dir)
        shown = label or str(source)
        if not source.is_dir():
            raise InvalidRequest(f"{shown} is not a directory; a model directory holds model.joblib and schema.json.")
        rows = Path(sample) if sample is not None and Path(sample).is_file() else None  # else _sample_profile says
        runtime = try_isolated(self.settings, source, shown, rows) if trial else None
        try:
            model = load_model(source)
            version = check_version(model.version if version is None else version)
            id_column = id_column or model.id_column
        except ModelError as exc:
            raise InvalidRequest(f"{shown} is not a usable model: {exc}") from exc
        except Exception as exc:  # a corrupt joblib raises anything (EOFError, UnpicklingError...)
            raise InvalidRequest(f"{shown} is not a usable model: {type(exc).__name__}: {exc}") from exc
        check_name(version, "model version")
        profile = _sample_profile(model, Path(sample)) if sample is not None else None
        if self.get(name, version) is not None:
            raise Conflict(f"Model {name} version {version} is deployed already; versions never change, "
                           "deploy the new files under a new version.", extra={"name": name, "version": version})
        final = self.models_dir / name / version
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.parent / f".deploy-{version}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(source, temp)
            if profile is not None:
                (temp / PROFILE_FILE).write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
            _make_read_only(temp)
            sha = artifact_sha256(temp)
            schema = {**model.schema, **({"runtime": runtime} if runtime else {}),
                      **({"id_column": id_column} if id_column else {})}
            schema_json = json.dumps(schema, sort_keys=True)
            with self.db.transaction() as tx:
                tx.insert("model_insert", {"name": name, "version": version, "artifact_sha256": sha,
                                           "schema_json": schema_json, "deployed_by": deployed_by})
                if activate:
                    tx.execute("models_deactivate", {"name": name})
                    tx.execute("model_activate", {"name": name, "version": version})
                audit.record(tx, actor or (Actor(deployed_by) if deployed_by else SYSTEM), audit.MODEL_DEPLOY,
                             "model", f"{name}/{version}", f"sha256 {sha[:12]}" + (", activated" if activate else ""))
                # Only the transaction that recorded NAME/VERSION gets here, so files already at
                # the final place are a leftover no row points at (a deploy that died between
                # its rename and its commit): replace them.
                if final.exists():
                    shutil.rmtree(final)
                os.rename(temp, final)
        except DuplicateKey as exc:
            raise Conflict(f"Model {name} version {version} is deployed already.",
                           extra={"name": name, "version": version}) from exc
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        log_event(log, "model.deployed", model=name, version=version, sha256=sha[:12], by=deployed_by or "cli",
                  active=activate)
        record = self.get(name, version)
        assert record is not None
        return record

    def deploy_archive(self, archive: Path, name: str, version: str | None = None, activate: bool = False,
                       deployed_by: str | None = None, label: str = "The archive",
                       actor: Actor | None = None, sample: str | os.PathLike[str] | None = None,
                       id_column: str | None = None) -> ModelRecord:
        """``deploy`` for a model directory uploaded as a .zip: unpacked with every entry
        checked (app/core/registry/archive.py) into a private staging directory beside the
        registry's files, deployed from there, and the staging directory removed whatever
        happens."""
        check_name(name)
        if version is not None:
            check_name(version, "model version")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        staging = self.models_dir / f".upload-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        try:
            # What is wrong inside the archive is the file's fault (422), not the request's.
            try:
                model_dir = unpack_model_archive(archive, staging, self.settings.model_unpacked_limit)
                return self.deploy(model_dir, name, version, activate=activate, deployed_by=deployed_by,
                                   label=label, actor=actor, sample=sample, id_column=id_column)
            except InvalidRequest as exc:
                raise FileRejected(exc.message, extra=exc.extra) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def activate(self, name: str, version: str, actor: Actor = SYSTEM) -> ModelRecord:
        """Make this version the one new uploads of the model use (promote or roll back)."""
        with self.db.transaction() as tx:
            if tx.one("model_get", {"name": name, "version": version}) is None:
                raise NotFound(f"There is no model {name} version {version}.", extra={"name": name, "version": version})
            before = tx.one("model_active", {"name": name})
            tx.execute("models_deactivate", {"name": name})
            tx.execute("model_activate", {"name": name, "version": version})
            audit.record(tx, actor, audit.MODEL_ACTIVATE, "model", f"{name}/{version}",
                         f"was {before['version']}" if before else "no version was active")
        log_event(log, "model.activated", model=name, version=version)
        record = self.get(name, version)
        assert record is not None
        return record

    # -- which model -----------------------------------------------------------------------------
    def default(self) -> ModelRecord:
        """The active version of DEFAULT_MODEL, registering MODEL_PATH as it while the registry
        has no model of that name. ModelError (saying what to fix) when there is none."""
        name = self.settings.default_model
        record = self.active(name)
        if record is not None:
            return record
        row = self.db.one("models_named_count", {"name": name})
        if row is None or int(row["n"]) == 0:
            try:
                # Not a deploy: the model an installation from before the registry already runs.
                return self.deploy(self.settings.model_path, name, activate=True, trial=False)
            except Conflict:  # another process registered it just now
                record = self.active(name)
                if record is not None:
                    return record
            except InvalidRequest as exc:
                raise ModelError(f"The default model {name!r} is not registered and MODEL_PATH cannot be: "
                                 f"{exc.message}") from exc
        raise ModelError(f"The default model {name!r} has no active version; activate one with "
                         f"`python -m app activate-model {name} VERSION`.")

    def resolve(self, name: str | None) -> ModelRecord:
        """The version an upload for ``name`` (None or empty: DEFAULT_MODEL) is accepted for:
        the one active now. UnknownModel (listing the active names) if it has none; ModelError
        if the default model cannot be had."""
        if not name or name == self.settings.default_model:
            return self.default()
        record = self.active(name)
        if record is not None:
            return record
        names = [m.name for m in self.offered()]
        raise UnknownModel(
            f"There is no active model named {name!r}. Active models: {', '.join(names) or 'none'}.",
            extra={"models": names},
        )

    def load(self, record: ModelRecord, expected_sha256: str | None = None) -> Model:
        """The deployed files of this version, loaded, after checking they are the ones that
        were deployed (or, given ``expected_sha256``, the ones a job was accepted for).
        ModelError naming the model and version otherwise."""
        directory = record.directory(self.models_dir)
        label = f"model {record.name} version {record.version}"
        if not directory.is_dir():
            raise ModelError(f"The files of {label} are missing (expected in {directory}).")
        sha = artifact_sha256(directory)
        expected = expected_sha256 or record.sha256
        if sha != expected:
            raise ModelError(f"The files of {label} changed after it was deployed (sha256 {sha[:12]}, "
                             f"deployed {expected[:12]}); deploy the new files as a new version.")
        try:
            return load_model(directory)
        except ModelError as exc:
            raise ModelError(f"{label} cannot be loaded: {exc}") from exc
        except Exception as exc:  # a corrupt joblib raises anything (EOFError, UnpicklingError...)
            raise ModelError(f"{label} cannot be loaded: {type(exc).__name__}: {exc}") from exc
