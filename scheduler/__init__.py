"""The workers: what cron runs and what the web server starts as processes.

- process_pending  the entry point: the oldest PENDING job, --all, --loop, --job N
- worker           runs a claimed job: the model, the result files, the report, the events
- deliveries       the workers' webhook sending
"""
