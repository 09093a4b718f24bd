-- Per-owner quotas need each owner's item count and bytes without scanning their items: the
-- size of every item's data is kept beside it, and the totals per owner are kept in one row
-- that every write updates in its transaction. The covering index plans list pages by size
-- without reading any document.
ALTER TABLE items ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE items SET bytes = length(CAST(data AS BLOB));
CREATE INDEX items_sizes ON items (owner, id, bytes);

CREATE TABLE owner_usage (
    owner TEXT    PRIMARY KEY,
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO owner_usage (owner, items, bytes)
    SELECT owner, COUNT(*), SUM(bytes) FROM items GROUP BY owner;
