-- Learning I: the model registry, evaluations and predictions.

CREATE TABLE models (
    model_id        VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,   -- fusion | word_space | image_regression
    task            VARCHAR,            -- the post_labels task a classifier predicts
    variant         VARCHAR,            -- fusion: image | text | late | early | joint | common
    config          JSON NOT NULL,      -- everything needed to rebuild the model
    data_snapshot   VARCHAR NOT NULL,   -- hash of the (post_id, label) pairs it was trained on
    train_posts     INTEGER,
    val_posts       INTEGER,
    test_posts      INTEGER,
    metrics         JSON,               -- validation and test scores, epochs, device, seconds
    checkpoint_path VARCHAR NOT NULL,   -- relative to POSTATLAS_HOME
    created_at      TIMESTAMP NOT NULL,
    run_id          VARCHAR NOT NULL
);

CREATE TABLE model_evaluations (
    model_id   VARCHAR NOT NULL,
    task       VARCHAR NOT NULL,
    variant    VARCHAR,
    split      VARCHAR NOT NULL,        -- val | test
    condition  VARCHAR NOT NULL,        -- both | image_only | text_only
    accuracy   DOUBLE,
    macro_f1   DOUBLE,
    micro_f1   DOUBLE,
    posts      INTEGER NOT NULL,
    PRIMARY KEY (model_id, split, condition)
);

CREATE TABLE predictions (
    post_id     VARCHAR NOT NULL,
    task        VARCHAR NOT NULL,
    label       VARCHAR NOT NULL,
    score       DOUBLE NOT NULL,        -- the predicted class's probability
    model_id    VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    modalities  VARCHAR NOT NULL,       -- text+image | text | image | none: what the post had
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (post_id, task)           -- the latest prediction per post and task
);
