"""Location prediction's geography: great-circle distances, the gazetteer's cities without districts, scores."""

from __future__ import annotations

import numpy as np
import pytest

from models.location import decide_cities, gazetteer_cities, haversine_km, location_scores


def test_haversine_matches_known_distances() -> None:
    # Barcelona - Madrid about 505 km, London - Paris about 344 km; a point is 0 km from itself
    km = haversine_km(np.array([41.3851, 51.5074, 10.0]), np.array([2.1734, -0.1278, 20.0]),
                      np.array([40.4168, 48.8566, 10.0]), np.array([-3.7038, 2.3522, 20.0]))
    assert km[0] == pytest.approx(505, abs=3) and km[1] == pytest.approx(344, abs=3) and km[2] == 0


def test_the_nearest_city_is_the_city_not_its_district() -> None:
    cities = gazetteer_cities()
    names = cities.names[cities.nearest(np.array([41.381, 40.414, 40.7128]), np.array([2.176, -3.683, -74.006]))]
    assert names.tolist() == ["Barcelona (ES-56)", "Madrid (ES-29)", "New York City (US-NY)"]
    assert not any(name.startswith(("Ciutat Vella", "Retiro ")) for name in cities.names)
    assert any(name.startswith("Zaragoza") for name in cities.names)  # far from bigger cities: kept


def test_location_scores_by_hand() -> None:
    scores = location_scores(np.array(["a", "b", "c"]), np.array(["a", "x", "y"]),
                             np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]),
                             np.array([0.0, 1.0, 3.0]), np.array([0.0, 0.0, 0.0]))
    assert scores["accuracy"] == pytest.approx(1 / 3)
    assert scores["acc@161"] == pytest.approx(2 / 3)  # 0 km and 111 km are within 161 km; 334 km is not
    assert scores["median_km"] == pytest.approx(111.2, abs=0.2)


def test_nearby_decision_adds_up_a_metro_areas_probability() -> None:
    # three towns within a few km of each other (0.25 each) and one far city (0.3): the most probable single city
    # is the far one, the most probable 161 km is the metro area
    lat, lon = np.array([40.0, 40.05, 40.1, 10.0]), np.array([-75.0, -75.0, -75.0, 20.0])
    probabilities = np.array([[0.25, 0.25, 0.2, 0.3]])
    assert decide_cities(probabilities, lat, lon, "city").tolist() == [3]
    assert decide_cities(probabilities, lat, lon, "nearby").tolist() == [0]
    with pytest.raises(ValueError, match="nearby"):
        decide_cities(probabilities, lat, lon, "vote")
