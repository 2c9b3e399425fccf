-- Incremental curate (issue 16). Every writer that changes what the rules read (a new post, a deleted one, an
-- image stored late) logs the post in curate_changes in its own transaction; curate re-decides those posts (and
-- the posts whose decisions depend on them), then removes the log entries it consumed. The compact state lets it
-- find those dependants without rereading the warehouse: the normalised-text key of every post the duplicate rule
-- saw and the perceptual hash of every image the near_duplicate_image rule saw. curate_state names the options
-- the decisions were made with; other options mean a full run.
CREATE SEQUENCE curate_change_seq;
CREATE TABLE curate_changes (
    seq     BIGINT NOT NULL DEFAULT nextval('curate_change_seq'),
    post_id VARCHAR NOT NULL
);
CREATE TABLE curate_text_keys (
    post_id  VARCHAR NOT NULL,
    key_hash UBIGINT NOT NULL              -- md5_number_upper(normalised text)
);
CREATE TABLE curate_image_hashes (
    post_id VARCHAR NOT NULL,
    phash   UBIGINT NOT NULL               -- the first photo's 64-bit perceptual hash
);
CREATE TABLE curate_state (
    config_hash VARCHAR NOT NULL,
    config      JSON NOT NULL,
    run_id      VARCHAR NOT NULL,
    decided_at  TIMESTAMPTZ NOT NULL
);
