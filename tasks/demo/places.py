"""The cities demo posts come from: Barcelona (the home city) and three others, and the cities spam names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A city posts come from: centre, X place, bounding box and spots named in texts."""

    name: str
    lat: float
    lon: float
    place_id: str
    full_name: str
    country: str
    country_code: str
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    spots: tuple[str, ...]  # neighbourhoods; none of them is a big city's name (the city_spam rule)
    weight: float


CITIES = (
    City("Barcelona", 41.3874, 2.1686, "b8d4c2a1f0e93a57", "Barcelona, España", "España", "ES",
         (2.052477, 41.319999, 2.228212, 41.46842),
         ("Barcelona", "BCN", "Barceloneta", "Gràcia", "El Born", "Poblenou", "Sants", "Montjuïc", "Raval"), 0.65),
    City("Madrid", 40.4168, -3.7038, "206be7ba6b0c5a63", "Madrid, Comunidad de Madrid", "España", "ES",
         (-3.888954, 40.312064, -3.517885, 40.643271), ("Malasaña", "Lavapiés", "Retiro", "Chamberí"), 0.12),
    City("Lisbon", 38.7223, -9.1393, "3e0a1c67f2d8b914", "Lisboa, Portugal", "Portugal", "PT",
         (-9.230096, 38.691345, -9.087133, 38.796006), ("Alfama", "Bairro Alto", "Chiado", "Mouraria"), 0.10),
    City("London", 51.5072, -0.1276, "457b4814b4240d87", "London, England", "United Kingdom", "GB",
         (-0.510375, 51.28676, 0.334016, 51.691874), ("Shoreditch", "Brixton", "Hackney", "Soho"), 0.13),
)
CITY_BY_NAME = {city.name: city for city in CITIES}
HOME_CITY = "Barcelona"
HOME_TAGS = ("barcelona", "bcn")
SPAM_CITIES = (("Madrid", "madrid"), ("Paris", "paris"), ("London", "london"), ("New York", "newyork"))
