-- Items, partitioned by owner. Versions come from one store-wide counter so they are never
-- reused, not even after a delete: a version is also the item's ETag.
CREATE TABLE items (
    owner   TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    data    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
) WITHOUT ROWID;

CREATE TABLE version_counter (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    value    INTEGER NOT NULL
);
INSERT INTO version_counter (only_row, value) VALUES (1, 0);
