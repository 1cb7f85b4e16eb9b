"""The settings of webhooks and metrics (issue 14): defaults, and a malformed value stops the
start with a message naming the key."""

from __future__ import annotations

import os

import pytest

from app.core.settings import SettingsError, load_settings


def load(**values: str):  # type: ignore[no-untyped-def]
    return load_settings(config_path=os.devnull, environ={}, overrides={"SECRET_KEY": "k" * 32, **values})


def test_defaults() -> None:
    settings = load()
    assert settings.webhook_allow_private is False and settings.webhook_retry_hours == 24
    assert settings.webhook_timeout_seconds == 10 and settings.webhook_backoff_seconds == 5
    assert settings.metrics_bind == "" and settings.public_url == ""
    assert load(PUBLIC_URL="https://beyond.example.com/").public_url == "https://beyond.example.com"
    assert load(METRICS_BIND="127.0.0.1:9100").metrics_bind == "127.0.0.1:9100"
    assert load(METRICS_BIND="[::1]:9100").metrics_bind == "[::1]:9100"


@pytest.mark.parametrize("key, value", [
    ("WEBHOOK_ALLOW_PRIVATE", "maybe"), ("WEBHOOK_TIMEOUT_SECONDS", "0"), ("WEBHOOK_RETRY_HOURS", "12"),
    ("WEBHOOK_BACKOFF_SECONDS", "soon"), ("METRICS_BIND", "9100"), ("METRICS_BIND", "host:99999"),
    ("PUBLIC_URL", "beyond.example.com"), ("PUBLIC_URL", "https://x.example.com/?a=1"),
])
def test_a_malformed_value_names_its_key(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load(**{key: value})
