-- A stable subject per user, the `sub` of their tokens and the owner of their items. Users that
-- exist already keep their login name as subject (what their tokens have always carried), so
-- nothing they own changes hands; users created from now on get an opaque one.
ALTER TABLE directory_users ADD COLUMN subject TEXT;
UPDATE directory_users SET subject = username WHERE subject IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS directory_users_subject ON directory_users (subject);
