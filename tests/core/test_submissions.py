"""app/core/jobs/files.py: the display name of an uploaded file is text, never a path."""

from __future__ import annotations

import pytest

from app.core.jobs.submissions import display_name, human_size


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("patients.csv", "patients.csv"),
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\ana\\datos ñ.csv", "datos ñ.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("a %22quoted%22 name.csv", 'a "quoted" name.csv'),  # browsers percent-encode '"'
        ("line%0Abreak.csv", "linebreak.csv"),
        ("nul\x00byte.csv", "nulbyte.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("x" * 400 + ".csv", "x" * 255),
    ],
)
def test_display_name(raw: str | None, shown: str) -> None:
    assert display_name(raw) == shown


def test_human_size() -> None:
    assert human_size(512) == "512 bytes"
    assert human_size(200 * 1024 * 1024) == "200.0 MB"
