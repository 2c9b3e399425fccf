-- Account-level labels and predictions (paper 002's bot detection; docs/WAREHOUSE.md).
CREATE TABLE user_labels (
    user_id   VARCHAR NOT NULL,
    task      VARCHAR NOT NULL,            -- bots (bot | human), gender (male | female)
    label     VARCHAR NOT NULL,
    source    VARCHAR NOT NULL,            -- where the label comes from: pan-truth
    run_id    VARCHAR NOT NULL,
    PRIMARY KEY (user_id, task, source)
);

CREATE TABLE user_predictions (
    user_id    VARCHAR NOT NULL,
    task       VARCHAR NOT NULL,           -- bots
    label      VARCHAR NOT NULL,           -- bot | human
    score      DOUBLE,                     -- the model's probability of `label`
    model_id   VARCHAR NOT NULL,
    run_id     VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, task, model_id)
);
