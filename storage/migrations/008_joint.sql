-- Paper 002's joint embedding: one vector per post and part (view over Parquet, storage/embeddings.py), and the
-- retrieval evaluations of joint models and their baselines (docs/WAREHOUSE.md).

-- Replaced by a view over the Parquet files once `postatlas embed` has written a joint model's parts.
CREATE VIEW embedding_parts AS
SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::VARCHAR AS part, NULL::FLOAT[] AS vector,
       NULL::VARCHAR AS run_id
WHERE false;

CREATE TABLE retrieval_evaluations (
    model_id     VARCHAR NOT NULL,
    split        VARCHAR NOT NULL,         -- val | test
    query_part   VARCHAR NOT NULL,         -- text | image | hashtags | user | location
    target_part  VARCHAR NOT NULL,         -- a part, or `others`: the mean of the post's other parts
    r1           DOUBLE NOT NULL,          -- recall at 1, 5, 10, in %
    r5           DOUBLE NOT NULL,
    r10          DOUBLE NOT NULL,
    median_rank  DOUBLE NOT NULL,
    queries      INTEGER NOT NULL,         -- held-out posts with both sides, ranked in folds of `fold_size`
    fold_size    INTEGER NOT NULL,
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (model_id, split, query_part, target_part)
);
