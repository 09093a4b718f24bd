-- Per-owner quotas need each owner's item count and bytes without scanning their items. The
-- size of every item's data is a generated column (no writer can get it wrong), the totals per
-- owner live in one row, and triggers keep that row exact for every write, whichever version
-- of the data API made it (older replicas during a rolling upgrade included). The covering
-- index plans list pages by size without reading any document. (No OR IGNORE in the triggers:
-- the conflict clause of the statement that fires a trigger would override it.)
ALTER TABLE items ADD COLUMN bytes INTEGER GENERATED ALWAYS AS (length(CAST(data AS BLOB))) VIRTUAL;
CREATE INDEX items_sizes ON items (owner, id, bytes);

CREATE TABLE owner_usage (
    owner TEXT    PRIMARY KEY,
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO owner_usage (owner, items, bytes)
    SELECT owner, COUNT(*), SUM(bytes) FROM items GROUP BY owner;

CREATE TRIGGER items_usage_insert AFTER INSERT ON items BEGIN
    INSERT INTO owner_usage (owner, items, bytes) SELECT NEW.owner, 0, 0
        WHERE NOT EXISTS (SELECT 1 FROM owner_usage WHERE owner = NEW.owner);
    UPDATE owner_usage SET items = items + 1, bytes = bytes + NEW.bytes WHERE owner = NEW.owner;
END;
CREATE TRIGGER items_usage_update AFTER UPDATE ON items BEGIN
    UPDATE owner_usage SET items = items - 1, bytes = bytes - OLD.bytes WHERE owner = OLD.owner;
    INSERT INTO owner_usage (owner, items, bytes) SELECT NEW.owner, 0, 0
        WHERE NOT EXISTS (SELECT 1 FROM owner_usage WHERE owner = NEW.owner);
    UPDATE owner_usage SET items = items + 1, bytes = bytes + NEW.bytes WHERE owner = NEW.owner;
END;
CREATE TRIGGER items_usage_delete AFTER DELETE ON items BEGIN
    UPDATE owner_usage SET items = items - 1, bytes = bytes - OLD.bytes WHERE owner = OLD.owner;
END;
