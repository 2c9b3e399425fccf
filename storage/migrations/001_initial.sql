-- postatlas warehouse, schema version 1. Documented column by column in docs/WAREHOUSE.md.

CREATE TABLE runs (
    run_id        VARCHAR PRIMARY KEY,
    flow          VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,          -- running | completed | failed | crashed
    read          BIGINT DEFAULT 0,
    written       BIGINT DEFAULT 0,
    duplicates    BIGINT DEFAULT 0,
    filtered      BIGINT DEFAULT 0,
    quarantined   BIGINT DEFAULT 0,
    kept          BIGINT DEFAULT 0,
    deletions     BIGINT DEFAULT 0,
    message       VARCHAR,                   -- failure reason, or a one-line summary
    parameters    JSON,
    counts        JSON,                      -- per platform / rule / reason breakdowns
    pid           INTEGER,
    host          VARCHAR
);

CREATE TABLE raw_batches (
    batch_id      VARCHAR PRIMARY KEY,       -- sha256 over the batch's payloads
    platform      VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,          -- relative to POSTATLAS_HOME
    records       BIGINT NOT NULL,
    landed_at     TIMESTAMPTZ NOT NULL,
    run_id        VARCHAR NOT NULL
);

-- posts.post_id is unique: the only writer inserts with an anti-join inside its transaction (storage/warehouse.py);
-- no index, which makes bulk inserts twice as fast (docs/BENCHMARKS.md).
CREATE TABLE posts (
    post_id         VARCHAR NOT NULL,
    platform        VARCHAR NOT NULL,
    native_id       VARCHAR NOT NULL,
    author_id       VARCHAR,
    author_name     VARCHAR,
    created_at      TIMESTAMPTZ,
    text            VARCHAR,
    lang            VARCHAR,
    lang_confidence DOUBLE,
    lang_detector   VARCHAR,
    platform_lang   VARCHAR,
    hashtags        VARCHAR[],
    mentions        VARCHAR[],
    place_name      VARCHAR,
    lat             DOUBLE,
    lon             DOUBLE,
    score           BIGINT,
    url             VARCHAR,
    title           VARCHAR,
    community       VARCHAR,
    is_repost       BOOLEAN,
    repost_of       VARCHAR,
    reply_to        VARCHAR,
    edit_of         VARCHAR,
    withheld        VARCHAR,
    source_encoding VARCHAR,
    deleted         BOOLEAN NOT NULL DEFAULT false,
    deleted_reason  VARCHAR,
    raw_batch_id    VARCHAR,
    raw_index       INTEGER,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    user_id       VARCHAR PRIMARY KEY,
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

CREATE TABLE media (
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
    run_id      VARCHAR NOT NULL,
    PRIMARY KEY (post_id, position)
);

CREATE TABLE mentions (
    post_id       VARCHAR NOT NULL,
    src_user_id   VARCHAR,
    dst_user_id   VARCHAR,
    dst_username  VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL,
    PRIMARY KEY (post_id, dst_username)
);

CREATE TABLE post_labels (
    post_id   VARCHAR NOT NULL,
    task      VARCHAR NOT NULL,
    label     VARCHAR NOT NULL,
    source    VARCHAR NOT NULL,
    run_id    VARCHAR NOT NULL,
    PRIMARY KEY (post_id, task, source)
);

CREATE TABLE deletions (
    target_id    VARCHAR PRIMARY KEY,        -- a post_id or a user_id
    target_kind  VARCHAR NOT NULL,           -- post | user
    reason       VARCHAR,
    deleted_at   TIMESTAMPTZ,
    run_id       VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    run_id          VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    location        VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,        -- record (nothing kept) | field | media (the post was kept)
    post_id         VARCHAR,
    detail          VARCHAR,
    raw_excerpt     VARCHAR,
    quarantined_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, location, reason)
);

CREATE TABLE filter_decisions (
    run_id    VARCHAR NOT NULL,
    post_id   VARCHAR NOT NULL,
    rule      VARCHAR NOT NULL,
    kept      BOOLEAN NOT NULL,
    detail    VARCHAR
);

CREATE TABLE filter_summary (
    run_id     VARCHAR NOT NULL,
    position   INTEGER NOT NULL,
    rule       VARCHAR NOT NULL,
    evaluated  BIGINT NOT NULL,
    kept       BIGINT NOT NULL,
    dropped    BIGINT NOT NULL,
    PRIMARY KEY (run_id, rule)
);

CREATE TABLE curated_set (
    post_id   VARCHAR PRIMARY KEY,
    run_id    VARCHAR NOT NULL
);

CREATE VIEW curated_posts AS
    SELECT p.*, c.run_id AS curate_run_id
    FROM posts p JOIN curated_set c USING (post_id)
    WHERE NOT p.deleted;
