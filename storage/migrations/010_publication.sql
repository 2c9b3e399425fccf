-- The analyst copy (storage/analyst_copy.py): when the writer last published `warehouse.published.duckdb`, and from
-- which run. One row; the copy carries the row of its own publication.
CREATE TABLE publication (
    published_at TIMESTAMPTZ NOT NULL,
    run_id       VARCHAR
);
