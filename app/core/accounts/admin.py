"""What administrators do to accounts beyond app/core/accounts/users.py: change a role, disable, delete
(with the user's jobs and files, or handing the jobs to another user), invitation links, and
the forced password change of accounts an administrator gave a password.

The last active administrator can never be demoted, disabled or deleted: every such change
checks the count first and refuses with a Conflict naming the reason.

An invitation carries its issuer's rights, so it lives no longer than they do: demoting,
disabling or deleting an administrator withdraws their open invitations, and an acceptance
checks again that the issuer is still an active administrator (a withdrawal missed for any
reason - a row written by an older version, a race with the demotion - still cannot create
an account).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.core.accounts.users import USERNAME_RULE, User, UserError, Users, is_username, normal_username
from app.core.db import Database, Transaction, db_time_text, parse_time
from app.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.core.events import audit
from app.core.events.audit import SYSTEM, Actor
from app.core.jobs.files import job_files, remove_job_files
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status, job_from_row
from app.core.logfmt import log_event
from app.core.settings import Settings

log = logging.getLogger("beyond.auth")

INVITATION_HOURS = 48
INVITE_PREFIX = "inv_"


def hash_invitation(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Holdings:
    """What deleting a user would remove: their jobs, the files of those stored on disk, and
    how many of the jobs are running right now (a deletion waits for those)."""

    jobs: int
    files: int
    running: int


@dataclass(frozen=True)
class Invitation:
    id: int
    username: str
    is_admin: bool
    email: str | None
    created_by: str | None
    expires_at: datetime | None


class Accounts:
    def __init__(self, db: Database, settings: Settings, users: Users | None = None) -> None:
        self.db, self.settings = db, settings
        self.users = users or Users(db)
        self.jobs = Jobs(db)

    def _target(self, user_id: int) -> User:
        target = self.users.by_id(user_id)
        if target is None:
            raise NotFound("No such user.")
        return target

    def _keep_an_admin(self, target: User, what: str) -> None:
        """Refuse ``what`` when ``target`` is the only active administrator left."""
        if not (target.is_admin and target.is_active):
            return
        row = self.db.one("accounts_active_admins")
        if row is not None and int(row["n"]) <= 1:
            raise Conflict(f"{target.username} is the last active administrator and cannot be {what}: "
                           "make another user an administrator first.")

    # -- roles and state -----------------------------------------------------------------------
    def set_role(self, user_id: int, is_admin: bool, by: User, actor: Actor | None = None) -> User:
        target = self._target(user_id)
        if target.is_admin and not is_admin:
            self._keep_an_admin(target, "made a regular user")
        with self.db.transaction() as tx:
            tx.execute("accounts_set_role", {"id": target.id, "is_admin": int(is_admin)})
            audit.record(tx, actor or Actor.of(by), audit.USER_ROLE, "user", target.username,
                         "administrator" if is_admin else "user")
            if target.is_admin and not is_admin:
                self._withdraw_invitations(tx, target, actor or Actor.of(by), "made a regular user")
        log_event(log, "user.role", user=target.username, admin=by.username, role="admin" if is_admin else "user")
        return self._target(target.id)

    def set_active(self, user_id: int, active: bool, by: User, actor: Actor | None = None) -> User:
        target = self._target(user_id)
        if not active:
            if target.id == by.id:
                raise Conflict("You cannot disable your own account.")
            self._keep_an_admin(target, "disabled")
        self.users.set_active(target.id, active, actor or Actor.of(by))
        if not active:
            with self.db.transaction() as tx:
                self._withdraw_invitations(tx, target, actor or Actor.of(by), "disabled")
        log_event(log, "user.enabled" if active else "user.disabled", user=target.username, admin=by.username)
        return self._target(target.id)

    def require_password_change(self, user_id: int, required: bool = True) -> None:
        self.db.execute("accounts_set_must_change", {"id": user_id, "must": int(required)})

    # -- deletion ------------------------------------------------------------------------------
    def holdings(self, user_id: int) -> Holdings:
        jobs = [job_from_row(r) for r in self.db.all("accounts_jobs_of", {"owner_id": user_id})]
        files = sum(len(job_files(self.settings, job)) for job in jobs)
        running = sum(job.status is Status.IN_PROCESS for job in jobs)
        return Holdings(len(jobs), files, running)

    def delete(self, user_id: int, by: User, reassign_to: int | None = None,
               actor: Actor | None = None) -> tuple[int, int]:
        """Delete the account. reassign_to: the user who keeps its jobs (and their files); None:
        the jobs and their files are deleted too (each job's deletion is in the audit log as
        well). Returns (jobs, files) deleted or moved."""
        actor = actor or Actor.of(by)
        target = self._target(user_id)
        if target.id == by.id:
            raise Conflict("You cannot delete your own account.")
        self._keep_an_admin(target, "deleted")
        held = self.holdings(target.id)
        if reassign_to is not None:
            heir = self._target(reassign_to)
            if heir.id == target.id:
                raise InvalidRequest("Choose another user to keep the jobs.")
            moved = self.db.execute("accounts_reassign_jobs", {"from_id": target.id, "to_id": heir.id})
            self._delete_row(target, actor, f"{moved} jobs kept by {heir.username}")
            log_event(log, "user.deleted", user=target.username, admin=by.username, jobs_to=heir.username, jobs=moved)
            return moved, held.files
        if held.running:
            raise Conflict(f"{target.username} has {held.running} file{'s' if held.running != 1 else ''} being "
                           "processed right now; wait until they finish, or keep the jobs under another user.")
        removed_files = removed_jobs = 0
        for row in self.db.all("accounts_jobs_of", {"owner_id": target.id}):
            job = job_from_row(row)
            if not self.jobs.delete(job.id, actor):  # started since the check: stop, nothing half done
                raise Conflict(f"“{job.file_name}” of {target.username} started processing; try again when it ends.")
            removed_files += remove_job_files(self.settings, job)
            removed_jobs += 1
        self._delete_row(target, actor, f"{removed_jobs} jobs and {removed_files} files deleted")
        log_event(log, "user.deleted", user=target.username, admin=by.username, jobs=removed_jobs, files=removed_files)
        return removed_jobs, removed_files

    def _delete_row(self, target: User, actor: Actor, detail: str) -> None:
        self.users.throttle.unlock(target.username)  # their failed sign-ins are no one's now
        with self.db.transaction() as tx:
            tx.execute("accounts_delete_user", {"id": target.id})
            audit.record(tx, actor, audit.USER_DELETE, "user", target.username, detail)
            self._withdraw_invitations(tx, target, actor, "deleted")

    # -- invitations -----------------------------------------------------------------------------
    @staticmethod
    def _withdraw_invitations(tx: Transaction, issuer: User, actor: Actor, why: str) -> int:
        """Withdraw the open invitations ``issuer`` made (they lost the rights the links carry).
        One audit entry names how many, when there were any."""
        withdrawn = tx.execute("invitations_revoke_by_issuer", {"created_by": issuer.username})
        if withdrawn:
            audit.record(tx, actor, audit.USER_INVITE_REVOKE, "user", issuer.username,
                         f"{withdrawn} open invitation{'s' if withdrawn != 1 else ''} of {issuer.username} "
                         f"withdrawn: {why}")
            log_event(log, "user.invitations_withdrawn", issuer=issuer.username, invitations=withdrawn, why=why)
        return withdrawn

    def issuer_problem(self, invitation: Invitation) -> str | None:
        """Why the invitation cannot be accepted although it is open: its issuer is no longer an
        active administrator. None when it can."""
        issuer = self.users.by_name(invitation.created_by) if invitation.created_by else None
        if issuer is not None and issuer.is_admin and issuer.is_active:
            return None
        who = invitation.created_by or "an unknown administrator"
        return (f"This invitation link was made by {who}, who is no longer an active administrator, so it "
                "was withdrawn. Ask an administrator for a new one.")

    def invite(self, username: str, is_admin: bool, email: str | None, by: User,
               actor: Actor | None = None) -> str:
        """A link token for a new colleague to choose their own password (valid 48 h, once).
        Only its hash is stored; the token is returned to be shown once."""
        username = normal_username(username)
        if not is_username(username):
            raise UserError(USERNAME_RULE)
        if self.users.by_name(username):
            raise UserError(f"The user {username!r} already exists (user names ignore case).")
        token = INVITE_PREFIX + secrets.token_urlsafe(32)
        now = self.jobs.db_now()
        with self.db.transaction() as tx:
            tx.insert("invitation_insert", {
                "token_hash": hash_invitation(token), "username": username, "is_admin": int(is_admin),
                "email": email, "created_by": by.username,
                "expires_at": db_time_text(now + timedelta(hours=INVITATION_HOURS)),
            })
            audit.record(tx, actor or Actor.of(by), audit.USER_INVITE, "user", username,
                         f"{'administrator' if is_admin else 'user'}, link valid {INVITATION_HOURS} h")
        log_event(log, "user.invited", user=username, admin=by.username, hours=INVITATION_HOURS)
        return token

    def invitation(self, token: str) -> Invitation | None:
        """The open invitation of this token (unused, not expired), else None."""
        if not token or len(token) > 200:
            return None
        row = self.db.one("invitation_open", {"token_hash": hash_invitation(token)})
        return _invitation(row) if row else None

    def pending(self) -> list[Invitation]:
        return [_invitation(r) for r in self.db.all("invitations_pending")]

    def revoke_invitation(self, invitation_id: int, actor: Actor = SYSTEM) -> bool:
        with self.db.transaction() as tx:
            done = tx.execute("invitation_revoke", {"id": invitation_id}) == 1
            if done:
                audit.record(tx, actor, audit.USER_INVITE_REVOKE, "invitation", invitation_id)
        return done

    def accept(self, token: str, password: str, address: str = "") -> User:
        """Create the invited account with the password its owner chose. The invitation is
        used up first (one acceptance wins a race); a refused password gives it back."""
        invitation = self.invitation(token)
        if invitation is None:
            raise NotFound("This invitation link is not valid: it was used already, it expired (links last "
                           f"{INVITATION_HOURS} hours) or it was withdrawn. Ask an administrator for a new one.")
        problem = self.issuer_problem(invitation)
        if problem is not None:
            raise PermissionDenied(problem)
        digest = hash_invitation(token)
        if self.db.execute("invitation_use", {"token_hash": digest}) != 1:
            raise NotFound("This invitation link was used a moment ago.")
        try:
            user = self.users.create(invitation.username, password, is_admin=invitation.is_admin,
                                     email=invitation.email,
                                     actor=Actor(invitation.username, address))
        except UserError:
            self.db.execute("invitation_unuse", {"token_hash": digest})
            raise
        log_event(log, "user.joined", user=user.username, invited_by=invitation.created_by)
        return user


def _invitation(row: dict[str, object]) -> Invitation:
    expires = parse_time(row.get("expires_at"))
    return Invitation(
        id=int(row["id"]),  # type: ignore[call-overload]
        username=str(row["username"]),
        is_admin=bool(row["is_admin"]),
        email=row.get("email"),  # type: ignore[arg-type]
        created_by=row.get("created_by"),  # type: ignore[arg-type]
        expires_at=expires.astimezone(UTC) if expires else None,
    )
