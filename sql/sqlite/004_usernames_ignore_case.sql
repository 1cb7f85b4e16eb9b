-- Beyond schema version 4, SQLite: user names are unique ignoring case ('maria' and 'Maria'
-- are one account; sign-in by name ignores case, the stored spelling is kept for display),
-- and login_failures records the client address of every sign-in attempt.
--
-- Accounts that already differ only in case keep everything they own (password, tokens, jobs):
-- the oldest (lowest id) keeps its name, every other one is renamed to <name>-<id> (cut so the
-- result stays within 64 characters), e.g. 'Maria' id 7 becomes 'Maria-7'. An administrator
-- tells those users their new name. If such a new name is itself taken (ignoring case), the
-- unique index below fails and the whole migration rolls back: rename one of them by hand first.
UPDATE users SET username = substr(username, 1, 63 - length(id)) || '-' || id
WHERE id NOT IN (SELECT MIN(id) FROM users GROUP BY lower(username));

-- The key names are looked up by: lower case (valid names are ASCII, so lower() is exact).
ALTER TABLE users ADD COLUMN username_key TEXT GENERATED ALWAYS AS (lower(username)) VIRTUAL;
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (username_key);

-- Sign-in attempts: the row is written before the password is checked (and removed again when
-- the attempt is refused or succeeds), so parallel attempts cannot all slip under the limit.
-- username holds the lower-case name key; client the address the attempt came from.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
UPDATE login_failures SET username = lower(username);
CREATE INDEX IF NOT EXISTS login_failures_user_client ON login_failures (username, client, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_client ON login_failures (client, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_time ON login_failures (failed_at);
