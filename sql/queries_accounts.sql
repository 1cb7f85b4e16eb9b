-- Administrators' user management (app/core/accounts/admin.py): roles, deletion with the user's
-- jobs (or handing them to another user), invitations, the forced first password change.

-- name: accounts_active_admins
SELECT COUNT(*) AS n FROM users WHERE is_admin = 1 AND is_active = 1

-- name: accounts_set_role
UPDATE users SET is_admin = :is_admin, session_version = session_version + 1 WHERE id = :id

-- name: accounts_set_must_change
UPDATE users SET must_change_password = :must WHERE id = :id

-- name: accounts_jobs_of
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.owner_id = :owner_id ORDER BY r.id

-- name: accounts_reassign_jobs
UPDATE wp_records SET owner_id = :to_id WHERE owner_id = :from_id

-- name: accounts_delete_user
-- api_tokens go with the row (ON DELETE CASCADE); wp_records must be emptied first.
DELETE FROM users WHERE id = :id

-- name: invitation_insert
INSERT INTO invitations (token_hash, username, is_admin, email, created_by, created_at, expires_at)
VALUES (:token_hash, :username, :is_admin, :email, :created_by, {now}, :expires_at)

-- name: invitation_open
-- now: the database clock decides the expiry, as for every other time.
SELECT i.*, {now} AS now FROM invitations i
WHERE i.token_hash = :token_hash AND i.used_at IS NULL AND i.expires_at > {now}

-- name: invitation_use
-- Single use: only the first of two simultaneous acceptances matches the row.
UPDATE invitations SET used_at = {now}
WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > {now}

-- name: invitation_unuse
UPDATE invitations SET used_at = NULL WHERE token_hash = :token_hash

-- name: invitations_pending
SELECT id, username, is_admin, email, created_by, created_at, expires_at FROM invitations
WHERE used_at IS NULL AND expires_at > {now} ORDER BY id DESC

-- name: invitation_revoke
DELETE FROM invitations WHERE id = :id AND used_at IS NULL

-- name: invitations_revoke_by_issuer
-- created_by holds the issuer's user name as it was written (app/core/accounts/admin.py).
DELETE FROM invitations WHERE created_by = :created_by AND used_at IS NULL
