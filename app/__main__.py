"""Command line: python -m app COMMAND. Run `python -m app --help` for the list."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import BeyondError, Unavailable
from app.core.events.audit import cli_actor
from app.core.jobs.files import make_private
from app.core.settings import ROOT, Settings, SettingsError, example_properties, load_settings, new_secret_key

if TYPE_CHECKING:  # the commands import what they use, so `--help` stays fast
    from app.core.accounts.tokens import Tokens
    from app.core.accounts.users import User, Users
    from app.core.db import Database
    from app.core.jobs.queue import Jobs
    from app.core.registry.models import Registry


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def _services(settings: Settings) -> tuple[Database, Users, Tokens, Jobs]:
    from app.core.accounts.tokens import Tokens
    from app.core.accounts.users import Users
    from app.core.db import DatabaseUnavailable, open_database
    from app.core.jobs.queue import Jobs

    db = open_database(settings)
    try:
        db.init_schema()
    except DatabaseUnavailable as exc:
        print(f"database error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    return db, Users(db), Tokens(db), Jobs(db)


def _user_named(users: Users, name: str) -> User:
    user = users.by_name(name)
    if user is None:
        print(f"No user named {name!r}; create it with `python -m app create-user`.", file=sys.stderr)
        raise SystemExit(2)
    return user


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        print("The passwords differ.", file=sys.stderr)
        raise SystemExit(2)
    return first


def cmd_init_db(args: argparse.Namespace) -> int:
    settings = _settings()
    db, *_ = _services(settings)
    print(f"{db.engine} database ready at schema version {db.schema_version()}")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from app.core.accounts.users import UserError

    settings = _settings()
    _, users, _, _ = _services(settings)
    password = _read_password(args)
    try:
        user = users.create(args.name, password, is_admin=args.admin, email=args.email, actor=cli_actor())
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"created {'admin' if user.is_admin else 'user'} {user.username} (id {user.id})")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    settings = _settings()
    _, users, tokens, _ = _services(settings)
    user = _user_named(users, args.user)
    token, _ = tokens.create(user.id, args.name, cli_actor(user))
    print(token)
    print(f"(API token {args.name!r} for {user.username}; shown once, store it now)", file=sys.stderr)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from app.core.jobs.submissions import submit_path

    settings = _settings()
    _, users, _, jobs = _services(settings)
    user = _user_named(users, args.user)
    source = Path(args.file)
    if not source.is_file():
        print(f"{source}: no such file", file=sys.stderr)
        return 2
    try:
        job = submit_path(settings, jobs, user.id, source, model=args.model, actor=cli_actor(user))
    except BeyondError as exc:
        _print_error(exc)
        return 1
    print(f"job {job.id} PENDING: {job.file_name} ({job.rows_total} rows, model {job.model_name} {job.model_version})")
    return 0


def _print_error(exc: BeyondError) -> None:
    """A domain error as the command line shows it: the message, what an admin may see, and
    the problems it lists (a rejected file's rows and columns)."""
    print(exc.message, file=sys.stderr)
    if isinstance(exc, Unavailable) and exc.detail:
        print(f"  ({exc.detail})", file=sys.stderr)
    for problem in exc.extra.get("errors", []):
        print(f"  - {problem['message']}", file=sys.stderr)


def _registry() -> tuple[Settings, Registry]:
    from app.core.registry.models import Registry

    settings = _settings()
    db, *_ = _services(settings)
    return settings, Registry(db, settings)


def cmd_deploy_model(args: argparse.Namespace) -> int:
    _, registry = _registry()
    try:
        source = Path(args.dir)
        if source.is_file() and source.suffix.lower() == ".zip":  # as the Models page takes it
            record = registry.deploy_archive(source, args.name, args.version, activate=args.activate,
                                             label=str(source), actor=cli_actor(),
                                             sample=args.sample, id_column=args.id_column)
        else:
            record = registry.deploy(source, args.name, version=args.version, activate=args.activate,
                                     actor=cli_actor(), sample=args.sample, id_column=args.id_column)
    except BeyondError as exc:
        _print_error(exc)
        return 2
    state = "active" if record.active else f"not active; `python -m app activate-model {record.name} {record.version}`"
    print(f"deployed model {record.name} version {record.version} (sha256 {record.sha256[:12]}, {state})")
    if record.runtime_text:
        print(f"runs with {record.runtime_text}")
    return 0


def cmd_activate_model(args: argparse.Namespace) -> int:
    _, registry = _registry()
    try:
        record = registry.activate(args.name, args.version, cli_actor())
    except BeyondError as exc:
        _print_error(exc)
        return 2
    print(f"model {record.name}: version {record.version} is active (new uploads use it)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    settings, registry = _registry()
    records = registry.list()
    if not records:
        print("no models registered; `python -m app deploy-model DIR --name NAME --activate`")
        return 0
    rows = [("NAME", "VERSION", "ACTIVE", "SHA256", "DEPLOYED AT", "BY")]
    for r in records:
        when = r.deployed_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if r.deployed_at else ""
        rows.append((r.name, r.version, "yes" if r.active else "", r.sha256[:12], when, r.deployed_by or "(cli)"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """First run: config file with a fresh secret, the model, the database, an admin."""
    config = Path(os.environ.get("APP_CONFIG") or ROOT / "config.properties")
    if not config.exists():
        text = example_properties().replace("change-me-to-a-long-random-string", new_secret_key())
        config.write_text(text, encoding="utf-8")
        print(f"wrote {config} (embedded SQLite; edit HOST to use MySQL/MariaDB)")
    settings = _settings()
    from model.loading import model_file_of

    if model_file_of(settings.model_path) is None:  # no model.joblib, model.skops or MLflow MLmodel
        from model.train import train

        schema = train(settings.model_path)
        print(f"trained model {schema['version']} (test accuracy {schema['metrics']['test_accuracy']:.3f})")
    db, users, _, _ = _services(settings)
    print(f"{db.engine} database ready at schema version {db.schema_version()}")
    from app.core.registry.models import Registry
    from model.schema import ModelError

    try:
        record = Registry(db, settings).default()  # registers MODEL_PATH while there is none
    except ModelError as exc:
        print(f"model error: {exc}", file=sys.stderr)
        return 2
    print(f"model {record.name} version {record.version} is active")
    if users.count() == 0:
        password = secrets.token_urlsafe(12)
        users.create("admin", password, is_admin=True, actor=cli_actor())
        print("=" * 60)
        print("  created user 'admin' with password:", password)
        # Your own password is changed on your account page (the Users page sets other people's).
        print("  (shown once; after signing in, change it under Change password on your")
        print("   account page, /account#password: click your name at the top right)")
        print("=" * 60)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from app.core.logfmt import setup_logging
    from app.web.server import serve

    settings = _settings()
    setup_logging(settings.log_level)
    where = f"MySQL {settings.host}" if settings.uses_mysql else f"SQLite {settings.sqlite_path}"
    print(f"Beyond on http://{args.host}:{args.port}  ({where})")
    serve(settings, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="Beyond: a model behind a web panel and an API.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web panel, API and embedded worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("setup", help="first-run: config file, model, database, admin user")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("init-db", help="create or migrate the database schema")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("create-user", help="create a panel user")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true")
    p.add_argument("--email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("create-token", help="create an API token and print it once")
    p.add_argument("name", help="a label for the token, e.g. the program that uses it")
    p.add_argument("--user", default="admin", help="the user the token acts as (default: admin)")
    p.set_defaults(func=cmd_create_token)

    p = sub.add_parser("submit", help="register a CSV as a PENDING job for a user")
    p.add_argument("user")
    p.add_argument("file")
    p.add_argument("--model", help="the registered model to use (default: DEFAULT_MODEL)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("deploy-model", help="register a model directory as a new version")
    p.add_argument("dir", help="a model directory (schema.json + model.joblib, model.skops or a library's own file, or an MLflow "
                               "model), or a .zip of one")
    p.add_argument("--name", required=True, help="the model's name: letters, digits, - _ . (up to 64)")
    p.add_argument("--version", help="default: the version in its schema.json")
    p.add_argument("--activate", action="store_true", help="make it the version new uploads use")
    p.add_argument("--sample", help="a CSV of training rows: stored as the model's training profile (profile.json), "
                                    "which every job's quality report compares with (MLflow models have none)")
    p.add_argument("--id-column", help="the column that identifies a row: every upload must carry it, non-empty and "
                                       "unique in the file; results carry it (default: schema.json's id_column)")
    p.set_defaults(func=cmd_deploy_model)

    p = sub.add_parser("activate-model", help="make a deployed version the active one (promote or roll back)")
    p.add_argument("name")
    p.add_argument("version")
    p.set_defaults(func=cmd_activate_model)

    p = sub.add_parser("models", help="list the registered models and versions")
    p.set_defaults(func=cmd_models)

    args = parser.parse_args(argv)
    # Every file this process creates (config.properties with the secret key, the SQLite
    # file, uploads, results) is readable by the service's user only.
    make_private()
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
