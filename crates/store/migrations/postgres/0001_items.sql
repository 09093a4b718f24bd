-- Items, partitioned by owner. `data` is TEXT, not JSONB: the document is served byte for byte
-- as the client sent it. Versions come from one sequence so they are never reused, not even
-- after a delete: a version is also the item's ETag. Byte-order collation keeps cursor paging
-- identical to the SQLite store.
CREATE SEQUENCE item_versions;

CREATE TABLE items (
    owner   TEXT COLLATE "C" NOT NULL,
    id      TEXT COLLATE "C" NOT NULL,
    data    TEXT   NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (owner, id)
);
