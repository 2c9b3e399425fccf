-- Pretrained encoders: the feature store (Parquet under POSTATLAS_HOME/features, exposed as a view; see
-- storage/features.py) and the spread of every evaluation score. Documented in docs/WAREHOUSE.md.

-- Replaced by a view over the Parquet files once `postatlas featurize` (or a training flow) has written one.
CREATE VIEW post_features AS
SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS encoder, NULL::INTEGER AS dimension, NULL::FLOAT[] AS vector,
       NULL::VARCHAR AS ocr_text, NULL::VARCHAR AS problem, NULL::VARCHAR AS run_id,
       NULL::TIMESTAMPTZ AS created_at
WHERE false;

-- Standard deviation of the score over 200 bootstrap resamples of the split's posts (how much to trust a
-- difference between two models' validation scores).
ALTER TABLE model_evaluations ADD COLUMN accuracy_sd DOUBLE;
ALTER TABLE model_evaluations ADD COLUMN macro_f1_sd DOUBLE;
