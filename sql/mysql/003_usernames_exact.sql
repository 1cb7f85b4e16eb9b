-- Beyond schema version 3, MySQL / MariaDB: user names compare exactly, as on SQLite. Under the
-- default utf8mb4_unicode_ci collation 'ALICE' signed in as 'alice' and login failures counted
-- across case; a binary collation makes names case-sensitive on both engines.
ALTER TABLE users MODIFY username VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE login_failures MODIFY username VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
