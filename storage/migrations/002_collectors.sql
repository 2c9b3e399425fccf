-- Schema version 2: live collectors keep their cursors and read budgets; runs say why they stopped.

CREATE TABLE collector_state (
    collection   VARCHAR PRIMARY KEY,        -- "<platform>:<spec name>"
    platform     VARCHAR NOT NULL,
    cursor       JSON,                       -- since_id / next_token / after / a frozen iterator
    updated_at   TIMESTAMPTZ NOT NULL,
    run_id       VARCHAR NOT NULL
);

CREATE TABLE read_budget (
    platform     VARCHAR NOT NULL,
    month        VARCHAR NOT NULL,           -- YYYY-MM (UTC)
    posts_read   BIGINT NOT NULL,
    PRIMARY KEY (platform, month)
);

ALTER TABLE runs ADD COLUMN pages BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN images BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN stop_reason VARCHAR;
