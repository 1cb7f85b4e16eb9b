-- Beyond schema version 4, MySQL / MariaDB: user names are unique ignoring case ('maria' and
-- 'Maria' are one account; sign-in by name ignores case, the stored spelling is kept for
-- display), and login_failures records the client address of every sign-in attempt.
--
-- Accounts that already differ only in case keep everything they own (password, tokens, jobs):
-- the oldest (lowest id) keeps its name, every other one is renamed to <name>-<id> (cut so the
-- result stays within 64 characters), e.g. 'Maria' id 7 becomes 'Maria-7'. An administrator
-- tells those users their new name. If such a new name is itself taken (ignoring case), adding
-- the unique index fails: rename one of them by hand and start again (every statement here
-- can be repeated: MySQL DDL commits at once, so a half-applied run must be safe to re-run).
UPDATE users u
JOIN (SELECT LOWER(username) AS name_key, MIN(id) AS keep_id FROM users
      GROUP BY LOWER(username) HAVING COUNT(*) > 1) d
  ON LOWER(u.username) = d.name_key AND u.id <> d.keep_id
SET u.username = CONCAT(LEFT(u.username, 63 - LENGTH(u.id)), '-', u.id);

-- MariaDB has no functional indexes: a persistent generated column holds the lower-case key
-- (valid names are ASCII, so LOWER() is exact) and carries the unique index.
ALTER TABLE users ADD COLUMN IF NOT EXISTS
    username_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LOWER(username)) PERSISTENT;
ALTER TABLE users ADD UNIQUE INDEX IF NOT EXISTS users_username_key (username_key);

-- Sign-in attempts: the row is written before the password is checked (and removed again when
-- the attempt is refused or succeeds), so parallel attempts cannot all slip under the limit.
-- username holds the lower-case name key; client the address the attempt came from.
ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS
    client VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';
UPDATE login_failures SET username = LOWER(username);
ALTER TABLE login_failures ADD INDEX IF NOT EXISTS login_failures_user_client (username, client, failed_at);
ALTER TABLE login_failures ADD INDEX IF NOT EXISTS login_failures_client (client, failed_at);
ALTER TABLE login_failures ADD INDEX IF NOT EXISTS login_failures_time (failed_at);
