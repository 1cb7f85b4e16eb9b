"""What a state change also writes or sends, in the change's own transaction where it can.

- audit     the append-only audit log (who did what to which object, from where)
- metrics   the /metrics counters, kept in the database, and their Prometheus text
- webhooks  the outbox and signed deliveries (Standard Webhooks)
- notify    the optional e-mails: a job's completion and a quality alert
"""
