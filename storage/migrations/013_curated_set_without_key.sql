-- curated_set loses its primary key (issue 16). Curate replaces the rows of the posts it decided in one
-- transaction (delete, then insert), which already keeps post_id unique; DuckDB's index made that replacement
-- cost 3.5 s of a night's curate on 10M posts (the index is rewritten at commit), 0.4 s without it
-- (docs/BENCHMARKS.md "Nightly at scale").
CREATE TABLE curated_set_unkeyed (
    post_id   VARCHAR NOT NULL,
    run_id    VARCHAR NOT NULL
);
INSERT INTO curated_set_unkeyed SELECT post_id, run_id FROM curated_set ORDER BY post_id;
DROP VIEW curated_posts;
DROP TABLE curated_set;
ALTER TABLE curated_set_unkeyed RENAME TO curated_set;
CREATE VIEW curated_posts AS
    SELECT p.*, c.run_id AS curate_run_id
    FROM posts p JOIN curated_set c USING (post_id)
    WHERE NOT p.deleted;
