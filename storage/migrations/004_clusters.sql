-- Learning II: embeddings (Parquet under POSTATLAS_HOME/embeddings, exposed as a view), clustering runs,
-- their clusters and the posts' assignments. Documented column by column in docs/WAREHOUSE.md.

-- Replaced by a view over the Parquet files once `postatlas embed` has written one (storage/embeddings.py).
CREATE VIEW embeddings AS
SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::FLOAT[] AS vector, NULL::VARCHAR AS run_id
WHERE false;

CREATE TABLE cluster_runs (
    run                    VARCHAR PRIMARY KEY,  -- cluster-<method>-<hash of model, snapshot, parameters>
    method                 VARCHAR NOT NULL,     -- paper | default
    parameters             JSON NOT NULL,        -- the settings and what the method decided (PCA dims, KCCA, ...)
    data_snapshot          VARCHAR NOT NULL,     -- hash of the clustered post_ids
    model_id               VARCHAR NOT NULL,     -- the embedding model
    posts                  BIGINT NOT NULL,      -- posts assigned at the fit
    n_clusters             INTEGER NOT NULL,
    silhouette             DOUBLE,               -- in the shared content space (docs/CLUSTERING.md)
    label_task             VARCHAR,              -- the post_labels task ARI / NMI compare with
    labelled_posts         BIGINT,
    ari                    DOUBLE,
    nmi                    DOUBLE,
    posts_with_image       BIGINT,
    posts_with_coordinates BIGINT,
    assigned_since_fit     BIGINT NOT NULL DEFAULT 0,  -- new posts assigned to these clusters after the fit
    seconds                DOUBLE,
    clusterer_path         VARCHAR,              -- the fitted clusterer (relative to POSTATLAS_HOME)
    report_path            VARCHAR,              -- the HTML report, once written
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    run_id                 VARCHAR NOT NULL      -- the runs-ledger run that fitted it
);

CREATE TABLE clusters (
    run                    VARCHAR NOT NULL,
    cluster_id             INTEGER NOT NULL,
    name                   VARCHAR,              -- its three top terms, for reports
    size                   BIGINT NOT NULL,
    top_terms              VARCHAR[],            -- class-based TF-IDF, best first
    term_scores            DOUBLE[],
    top_hashtags           VARCHAR[],
    hashtag_counts         BIGINT[],
    languages              VARCHAR[],            -- most common first
    language_counts        BIGINT[],
    centroid_lat           DOUBLE,               -- spherical mean of the posts with coordinates
    centroid_lon           DOUBLE,
    min_lat                DOUBLE,
    min_lon                DOUBLE,
    max_lat                DOUBLE,
    max_lon                DOUBLE,
    posts_with_coordinates BIGINT,
    posts_with_image       BIGINT,
    first_post_at          TIMESTAMPTZ,
    last_post_at           TIMESTAMPTZ,
    representative_post_ids VARCHAR[],           -- nearest the cluster's centre in the embedding space
    PRIMARY KEY (run, cluster_id)
);

-- (run, post_id) is unique: the only writers replace a run's rows or add posts with an anti-join, inside one
-- transaction (storage/clusters.py); no index, which makes replacing a run of 1M posts 30x faster (11 s -> 0.3 s).
CREATE TABLE cluster_assignments (
    run         VARCHAR NOT NULL,
    post_id     VARCHAR NOT NULL,
    cluster_id  INTEGER NOT NULL,
    x           FLOAT,                           -- 2-D position for the scatter plot
    y           FLOAT,
    assigned_by VARCHAR NOT NULL,                -- fit | assign (a new post placed between refits)
    assigned_at TIMESTAMPTZ NOT NULL
);
