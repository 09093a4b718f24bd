-- Per-owner quotas need each owner's item count and bytes without scanning their items: the
-- size of every item's data is kept beside it, and the totals per owner are kept in one row
-- that every write locks and updates in its transaction (which also serialises one owner's
-- writes). The covering index plans list pages by size without reading any document.
ALTER TABLE items ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE items SET bytes = octet_length(data);
CREATE INDEX items_sizes ON items (owner, id) INCLUDE (bytes);

CREATE TABLE owner_usage (
    owner TEXT COLLATE "C" PRIMARY KEY,
    items BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
INSERT INTO owner_usage (owner, items, bytes)
    SELECT owner, COUNT(*), SUM(bytes) FROM items GROUP BY owner;
