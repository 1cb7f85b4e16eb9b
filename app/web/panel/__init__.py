"""The web panel: one module per area, and here every URL it answers, in one table.

    jobs     the job list, a page per job, the upload, live updates, downloads, retry / cancel /
             archive / delete
    bulk     the job list's bulk actions over selected rows or a whole filter
    signin   /login, /logout
    account  the user's own account page
    tokens   the user's API tokens (with a ready curl line)
    apidocs  /docs: Swagger UI over /openapi.json, from our own static files
    webhooks the user's webhooks and their delivery log (administrators: global ones too)
    users    administrators: the user list and what they do to an account; invitation links
    queue    administrators: jobs per status, the oldest wait, throughput, the busy workers
    models   the active models, their columns and template CSVs; administrators activate versions
    audit    administrators: the audit log with filters
    quality  a job's data-quality report, a model's quality over time

app/web/app.py mounts ``routes``.
"""

from starlette.routing import BaseRoute, Route

from app.web.panel import account, apidocs, audit, bulk, jobs, models, quality, queue, signin, tokens, users, webhooks

routes: list[BaseRoute] = [
    Route("/login", signin.login_page, methods=["GET"]),
    Route("/login", signin.login_submit, methods=["POST"]),
    Route("/logout", signin.logout, methods=["POST"]),
    Route("/account", account.account, methods=["GET", "POST"]),
    Route("/tokens", tokens.tokens_page, methods=["GET", "POST"]),
    Route("/docs", apidocs.docs_page, methods=["GET"]),
    Route("/tokens/{token_id:int}/revoke", tokens.token_revoke, methods=["POST"]),
    Route("/webhooks", webhooks.webhooks_page, methods=["GET", "POST"]),
    Route("/webhooks/{webhook_id:int}/delete", webhooks.webhook_delete, methods=["POST"]),
    Route("/admin/users", users.admin_users, methods=["GET", "POST"]),
    Route("/admin/queue", queue.queue_page, methods=["GET"]),
    Route("/admin/users/{user_id:int}/disable", users.admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/enable", users.admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/password", users.admin_reset_password, methods=["POST"]),
    Route("/admin/users/{user_id:int}/unlock", users.admin_unlock, methods=["POST"]),
    Route("/admin/audit", audit.audit_page, methods=["GET"]),
    Route("/admin/users/{user_id:int}/role", users.admin_set_role, methods=["POST"]),
    Route("/admin/users/{user_id:int}/delete", users.admin_delete, methods=["GET", "POST"]),
    Route("/admin/users/invite", users.admin_invite, methods=["POST"]),
    Route("/admin/invitations/{invitation_id:int}/revoke", users.admin_invitation_revoke, methods=["POST"]),
    Route("/invite/{token}", users.invitation, methods=["GET", "POST"]),
    Route("/models", models.models_page, methods=["GET"]),
    Route("/models/deploy", models.deploy, methods=["POST"]),
    Route("/models/{name}/template.csv", models.template, methods=["GET"]),
    Route("/models/{name}/quality", quality.model_quality, methods=["GET"]),
    Route("/models/{name}/{version}/activate", models.activate, methods=["POST"]),
    Route("/jobs", jobs.jobs_page, methods=["GET"]),
    Route("/jobs/upload", jobs.upload, methods=["POST"]),
    Route("/jobs/upload", jobs.upload_form, methods=["GET"]),
    Route("/jobs/updates", jobs.updates, methods=["GET"]),
    Route("/jobs/duplicate", jobs.duplicate_check, methods=["GET"]),
    Route("/jobs/bulk", bulk.bulk, methods=["POST"]),
    Route("/jobs/{job_id:int}", jobs.job_page, methods=["GET"]),
    Route("/jobs/{job_id:int}/result.xlsx", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/result.csv", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/original.csv", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/retry", jobs.retry, methods=["POST"]),
    Route("/jobs/{job_id:int}/cancel", jobs.cancel, methods=["POST"]),
    Route("/jobs/{job_id:int}/archive", jobs.set_archived, methods=["POST"]),
    Route("/jobs/{job_id:int}/unarchive", jobs.set_archived, methods=["POST"]),
    Route("/jobs/{job_id:int}/delete", jobs.delete, methods=["POST"]),
    Route("/jobs/{job_id:int}/quality", quality.job_quality, methods=["GET"]),
]
