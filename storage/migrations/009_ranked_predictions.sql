-- Paper 002's applications: predictions with ranks (hashtag recommendation: one row per post and rank) and a place
-- (location prediction: the city's lat, lon); the applications' scores against their baselines
-- (docs/WAREHOUSE.md). Existing predictions keep their rows as rank 1.
CREATE TABLE predictions_ranked (
    post_id     VARCHAR NOT NULL,
    task        VARCHAR NOT NULL,
    label       VARCHAR NOT NULL,
    score       DOUBLE NOT NULL,
    model_id    VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    modalities  VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    rank        INTEGER NOT NULL DEFAULT 1,  -- 1 = the best label; hashtags: 1..k
    lat         DOUBLE,                       -- location: the predicted city's coordinates
    lon         DOUBLE,
    PRIMARY KEY (post_id, task, rank)
);
INSERT INTO predictions_ranked (post_id, task, label, score, model_id, run_id, modalities, created_at)
SELECT post_id, task, label, score, model_id, run_id, modalities, created_at FROM predictions;
DROP TABLE predictions;
ALTER TABLE predictions_ranked RENAME TO predictions;

CREATE TABLE application_evaluations (
    model_id     VARCHAR NOT NULL,          -- the joint model evaluated (its baselines are rows beside it)
    application  VARCHAR NOT NULL,          -- hashtags | location
    method       VARCHAR NOT NULL,          -- joint, or the baseline's name
    split        VARCHAR NOT NULL,          -- test
    metric       VARCHAR NOT NULL,          -- hashtags: p@k, r@k, f1@k; location: accuracy, acc@161, median_km
    value        DOUBLE NOT NULL,
    posts        INTEGER NOT NULL,
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (model_id, application, method, split, metric)
);
