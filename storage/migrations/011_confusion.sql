-- The confusion matrix of every evaluation row (the training report's heat maps and per-class scores):
-- {"classes": [...], "matrix": [[...]]}, rows the true class, columns the predicted one. NULL for rows written
-- before it and for models evaluated otherwise.
ALTER TABLE model_evaluations ADD COLUMN confusion JSON;
