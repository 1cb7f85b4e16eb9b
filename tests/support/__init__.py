"""Helpers for the reliability tests: test-only models, real processes, a private MariaDB."""
