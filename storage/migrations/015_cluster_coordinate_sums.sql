-- Assigning new posts to fitted clusters updates each cluster's row from the new posts alone (issue 16): the
-- spherical centroid needs the sum of the unit vectors of the cluster's coordinates, which the centroid alone has
-- lost. NULL on rows written before: their first update starts from posts_with_coordinates times the centroid's
-- unit vector (exact when the posts are close together, as in a city).
ALTER TABLE clusters ADD COLUMN coordinate_sum_x DOUBLE;
ALTER TABLE clusters ADD COLUMN coordinate_sum_y DOUBLE;
ALTER TABLE clusters ADD COLUMN coordinate_sum_z DOUBLE;
