-- users, media and mentions lose their primary keys (issue 16), as posts never had one: the only writer
-- (storage/warehouse.write_batch) inserts a batch's rows, one per key already, with an anti-join inside its
-- transaction. DuckDB's index on users made the checkpoint after a night's ingest 1.6 s at 2.4M users, 0.13 s
-- without; media and mentions grow with the posts and would cost more (docs/BENCHMARKS.md "Nightly at scale").
CREATE TABLE users_unkeyed (
    user_id       VARCHAR NOT NULL,
    platform      VARCHAR NOT NULL,
    native_id     VARCHAR NOT NULL,
    username      VARCHAR,
    display_name  VARCHAR,
    description   VARCHAR,
    location      VARCHAR,
    followers     BIGINT,
    following     BIGINT,
    post_count    BIGINT,
    verified      BOOLEAN,
    created_at    TIMESTAMPTZ,
    run_id        VARCHAR NOT NULL
);
INSERT INTO users_unkeyed BY NAME SELECT * FROM users;
DROP TABLE users;
ALTER TABLE users_unkeyed RENAME TO users;

CREATE TABLE media_unkeyed (
    post_id     VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    media_key   VARCHAR,
    kind        VARCHAR,
    url         VARCHAR,
    sha256      VARCHAR,                     -- NULL until the image is in the media store
    path        VARCHAR,                     -- relative to POSTATLAS_HOME
    width       INTEGER,
    height      INTEGER,
    mime        VARCHAR,
    phash       VARCHAR,                     -- 64-bit perceptual hash, hex
    status      VARCHAR NOT NULL,            -- stored | remote | corrupt
    run_id      VARCHAR NOT NULL
);
INSERT INTO media_unkeyed BY NAME SELECT * FROM media;
DROP TABLE media;
ALTER TABLE media_unkeyed RENAME TO media;

CREATE TABLE mentions_unkeyed (
    post_id       VARCHAR NOT NULL,
    src_user_id   VARCHAR,
    dst_user_id   VARCHAR,
    dst_username  VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL
);
INSERT INTO mentions_unkeyed BY NAME SELECT * FROM mentions;
DROP TABLE mentions;
ALTER TABLE mentions_unkeyed RENAME TO mentions;
