from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.settings import KEYS, SettingsError, example_properties, load_settings

SECRET = {"SECRET_KEY": "x" * 32}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.properties"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_select_embedded_sqlite(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "SECRET_KEY=" + "k" * 20), environ={})
    assert not settings.uses_mysql
    assert settings.sqlite_path.name == "beyond.sqlite3"
    assert settings.time_zone == "America/Montevideo"
    assert settings.upload_limit == 200 * 1024 * 1024


def test_article_keys_select_mysql(tmp_path: Path) -> None:
    config = write(tmp_path, "HOST=db.example\nUSER=app\nPASSWORD=p@ss\nDBNAME=models\nPORT=3307\nSECRET_KEY=" + "k" * 20)
    settings = load_settings(config, environ={})
    assert settings.uses_mysql
    assert (settings.host, settings.user, settings.password, settings.dbname, settings.port) == (
        "db.example", "app", "p@ss", "models", 3307)
    assert "p@ss" not in repr(settings)  # passwords never reach logs through repr


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = write(tmp_path, "SECRET_KEY=" + "k" * 20 + "\nSCHEDULER_INTERVAL=5")
    settings = load_settings(config, environ={"BEYOND_SCHEDULER_INTERVAL": "9", "USER": "shell-user"})
    assert settings.scheduler_interval == 9
    assert settings.user == "root"  # a shell's $USER does not leak in


def test_app_config_names_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "SECRET_KEY=" + "k" * 20 + "\nTIME_ZONE=UTC")
    assert load_settings(environ={"APP_CONFIG": str(config)}).time_zone == "UTC"
    with pytest.raises(SettingsError, match="APP_CONFIG"):
        load_settings(environ={"APP_CONFIG": str(tmp_path / "missing.properties")})


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("PORT=abc", "PORT"),
        ("SCHEDULER_INTERVAL=0", "SCHEDULER_INTERVAL"),
        ("TIME_ZONE=Mars/Olympus", "TIME_ZONE"),
        ("UPLOAD_LIMIT=lots", "UPLOAD_LIMIT"),
        ("HTTPS=maybe", "HTTPS"),
        ("MAX_ATTEMPTS=-1", "MAX_ATTEMPTS"),
        ("NOT_A_KEY=1", "NOT_A_KEY"),
        ("LOG_LEVEL=verbose", "LOG_LEVEL"),
    ],
)
def test_malformed_value_names_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load_settings(write(tmp_path, "SECRET_KEY=" + "k" * 20 + "\n" + line), environ={})


def test_missing_secret_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(write(tmp_path, "TIME_ZONE=UTC"), environ={})


def test_example_documents_every_key() -> None:
    text = example_properties()
    for key in KEYS:
        assert f"\n{key.name}=" in text
    committed = (Path(__file__).resolve().parents[2] / "config.properties.example").read_text(encoding="utf-8")
    assert committed == text, "regenerate config.properties.example with `python -m app.core.settings`"


def test_example_file_loads(tmp_path: Path) -> None:
    example = example_properties().replace("change-me-to-a-long-random-string", "s" * 40)
    settings = load_settings(write(tmp_path, example), environ={})
    assert settings.scheduler_interval == 5
    assert os.fspath(settings.input_dir).endswith("data/in")


def test_log_level_is_checked_at_load_and_normalised(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "SECRET_KEY=" + "k" * 20 + "\nLOG_LEVEL=warning"), environ={}).log_level == "WARNING"


@pytest.mark.procs
def test_serve_with_a_bad_log_level_stops_with_a_message_naming_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write(tmp_path, "SECRET_KEY=" + "k" * 20 + "\nLOG_LEVEL=chatty")
    env = {**os.environ, "APP_CONFIG": str(config)}
    done = subprocess.run([sys.executable, "-m", "app", "serve", "--port", "1"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "LOG_LEVEL='chatty'" in done.stderr and "Traceback" not in done.stderr
