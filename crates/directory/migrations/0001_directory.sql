-- Users and clients of the issuer. A record's fields are the users file's entry as JSON (the
-- `spec` column), validated by the same rules on every write and read; the columns beside it
-- are what the store itself must query or change atomically.
CREATE TABLE IF NOT EXISTS directory_users (
    username TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    -- Unix seconds: sessions and refresh-token families started before this are no longer
    -- honoured (set by a password change or a re-enable).
    sessions_not_before BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS directory_clients (
    client_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
