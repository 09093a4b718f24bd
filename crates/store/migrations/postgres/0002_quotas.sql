-- Per-owner quotas need each owner's item count and bytes without scanning their items. The
-- size of every item's data is a generated column (no writer can get it wrong), the totals per
-- owner live in one row that each write locks first (serialising one owner's writes across
-- replicas), and a trigger keeps that row exact for every write, whichever version of the data
-- API made it (older replicas during a rolling upgrade included). The covering index plans list
-- pages by size without reading any document.
--
-- Adding the stored column rewrites the table under an exclusive lock: on a large table, expect
-- reads and writes to wait for this migration.
ALTER TABLE items ADD COLUMN bytes BIGINT GENERATED ALWAYS AS (octet_length(data)) STORED;
CREATE INDEX items_sizes ON items (owner, id) INCLUDE (bytes);

CREATE TABLE owner_usage (
    owner TEXT COLLATE "C" PRIMARY KEY,
    items BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
INSERT INTO owner_usage (owner, items, bytes)
    SELECT owner, COUNT(*), SUM(bytes) FROM items GROUP BY owner;

CREATE FUNCTION items_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE owner_usage SET items = items - 1, bytes = bytes - OLD.bytes
            WHERE owner = OLD.owner;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO owner_usage AS u (owner, items, bytes) VALUES (NEW.owner, 1, NEW.bytes)
            ON CONFLICT (owner) DO UPDATE SET items = u.items + 1, bytes = u.bytes + NEW.bytes;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_usage AFTER INSERT OR UPDATE OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION items_usage();
