-- Subjects of deleted users: never handed out again, so a name deleted and then imported or
-- created again can never become the old owner of its items or refresh tokens.
CREATE TABLE IF NOT EXISTS directory_retired_subjects (
    subject TEXT PRIMARY KEY
);
