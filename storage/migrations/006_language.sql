-- The stacked language identifier (docs/FILTERS.md): each post's stage-1 probabilities, cached so that a later
-- curate only adds the author context; and the language every language decision found.
ALTER TABLE posts ADD COLUMN lang_scores FLOAT[];  -- per label of the detector named by lang_detector
ALTER TABLE filter_decisions ADD COLUMN lang VARCHAR;
ALTER TABLE filter_decisions ADD COLUMN lang_confidence DOUBLE;
ALTER TABLE filter_decisions ADD COLUMN lang_detector VARCHAR;
