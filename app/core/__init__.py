"""The core of Beyond: everything the panel, the API and the workers share, with no web
framework in it (tests/core/test_layers.py checks). The web layer (app/web/) and the workers
(scheduler/) both build on it. One package per subject, with the infrastructure beside them:

- jobs/       the queue and a job's files: records, claiming, listing, submissions, results
- accounts/   users, their passwords and sign-in throttle, API tokens, account administration
- registry/   the model registry: deployed versions, .zip archives, template CSVs
- events/     what a state change also writes or sends: audit log, metrics, webhooks, e-mails
- settings    the one table of settings, read from config.properties and the environment
- db          the database connector (SQLite, MySQL/MariaDB), migrations, the time helpers
- errors      the core's exception classes (app/web/errors.py maps them to HTTP)
- logfmt      one log line per event, as key=value
- textfold    text folded for search (case and accents)
"""
