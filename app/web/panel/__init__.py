"""The web panel: one module per area, and here every URL it answers, in one table.

    jobs     the job list, the upload, live updates, downloads, retry / archive / delete
    signin   /login, /logout
    account  the user's own account page
    tokens   the user's API tokens
    users    administrators: the user list and what they do to an account
    models   the active models, their columns and template CSVs; administrators activate versions
    quality  a job's data-quality report, a model's quality over time

app/web/app.py mounts ``routes``.
"""

from starlette.routing import BaseRoute, Route

from app.web.panel import account, jobs, models, quality, signin, tokens, users

routes: list[BaseRoute] = [
    Route("/login", signin.login_page, methods=["GET"]),
    Route("/login", signin.login_submit, methods=["POST"]),
    Route("/logout", signin.logout, methods=["POST"]),
    Route("/account", account.account, methods=["GET", "POST"]),
    Route("/tokens", tokens.tokens_page, methods=["GET", "POST"]),
    Route("/tokens/{token_id:int}/revoke", tokens.token_revoke, methods=["POST"]),
    Route("/admin/users", users.admin_users, methods=["GET", "POST"]),
    Route("/admin/users/{user_id:int}/disable", users.admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/enable", users.admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/password", users.admin_reset_password, methods=["POST"]),
    Route("/admin/users/{user_id:int}/unlock", users.admin_unlock, methods=["POST"]),
    Route("/models", models.models_page, methods=["GET"]),
    Route("/models/{name}/template.csv", models.template, methods=["GET"]),
    Route("/models/{name}/quality", quality.model_quality, methods=["GET"]),
    Route("/models/{name}/{version}/activate", models.activate, methods=["POST"]),
    Route("/jobs", jobs.jobs_page, methods=["GET"]),
    Route("/jobs/upload", jobs.upload, methods=["POST"]),
    Route("/jobs/updates", jobs.updates, methods=["GET"]),
    Route("/jobs/{job_id:int}/result.xlsx", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/result.csv", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/original.csv", jobs.download, methods=["GET"]),
    Route("/jobs/{job_id:int}/retry", jobs.retry, methods=["POST"]),
    Route("/jobs/{job_id:int}/archive", jobs.set_archived, methods=["POST"]),
    Route("/jobs/{job_id:int}/unarchive", jobs.set_archived, methods=["POST"]),
    Route("/jobs/{job_id:int}/delete", jobs.delete, methods=["POST"]),
    Route("/jobs/{job_id:int}/quality", quality.job_quality, methods=["GET"]),
]
