"""The core of Beyond: settings, the database connector, jobs, users, tokens, submissions,
files, logging and notifications. It imports no web framework (tests/test_layers.py checks):
the web layer (app/web/) and the workers (scheduler/) both build on it."""
