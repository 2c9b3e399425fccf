"""The embedded demo dataset: synthetic posts in X/Twitter's, Reddit's and instaloader's real wire formats.

``generate_demo(n_posts, seed)`` is pure: it returns every file as bytes (``DemoFile``: format, relative
path, data) and ``expected``, the facts a test needs to check an ingest of them. Nothing is read or
written; the demo flow writes the files with storage/ and ingests them through the ordinary readers.

Layout (relative paths)::

    twitter/pages.jsonl                      X API v2 search pages (<= 100 tweets, with includes and meta)
    twitter/media/3_<id>.jpg                 the photos, named like their URLs' last segment (--media-dir)
    reddit/<Subreddit>_top[_<k>].json        Reddit API Listing documents (<= 100 submissions each)
    reddit/dump.ndjson.zst                   a Pushshift / Arctic Shift style dump of older submissions
    reddit/media/<id>.jpg                    the i.redd.it images (--media-dir)
    instagram/<target>/<stem>.json.xz        instaloader Post structures; <stem> = YYYY-MM-DD_HH-MM-SS_UTC
    instagram/<target>/<stem>[_<n>].jpg      their images (sidecars: _1, _2, ...)
    instagram/<profile>/<profile>_<id>.json.xz, instagram/#barcelona/barcelona.json.xz
                                             Profile and Hashtag structures
    labels.csv                               id,label: a topic label for about 60% of the clean posts

Six topics (food, beach, football, architecture, nightlife, nature) differ in text (vocabularies in
English, Spanish and Catalan, some Portuguese, Galician, Basque, French, German) and in image (palette and
shapes). Planted on purpose: heavy posters, short and empty captions, other-city spam, exact duplicate
texts, retweets, records repeated across pages / files, near-duplicate images, and a few broken records
per platform (see ``expected["anomalies"]``). Deterministic for a seed: same arguments, same bytes.
"""

from __future__ import annotations

import io
import json
import lzma
import random
import re
import unicodedata
from base64 import b64decode, b64encode
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import zstandard
from PIL import Image, ImageDraw

PLATFORMS = ("twitter", "reddit", "instagram")
TOPICS = ("food", "beach", "football", "architecture", "nightlife", "nature")
MAIN_LANGS = ("en", "es", "ca")
MIN_POSTS = 200
PLATFORM_SHARE = {"twitter": 0.55, "reddit": 0.27}  # instagram: the rest
DUMP_SHARE = 0.4  # of the Reddit posts: the older ones, in the Pushshift-style dump
LABEL_SHARE = 0.6
START = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
SPAN = 61 * 86_400
TWITTER_EPOCH_MS = 1_288_834_974_657
INSTAGRAM_EPOCH_MS = 1_314_220_021_721
PAGE_SIZE = 97  # + up to 3 tweets repeated from the page before: <= 100, the API's max_results
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
OVERSIZED_CHARS = 3 * 1024 * 1024

# ----------------------------------------------------------------------------- places


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

# ----------------------------------------------------------------------------- languages and texts

LANG_MIX = {
    "twitter": {"en": .30, "es": .30, "ca": .28, "pt": .03, "gl": .02, "eu": .02, "fr": .03, "de": .02},
    "reddit": {"en": .52, "es": .24, "ca": .14, "pt": .02, "gl": .02, "eu": .02, "fr": .02, "de": .02},
    "instagram": {"en": .36, "es": .30, "ca": .24, "pt": .02, "gl": .02, "eu": .02, "fr": .02, "de": .02},
}
WHERE = {"en": "in {}", "es": "en {}", "ca": "a {}"}
WHEN = {
    "en": ("today", "yesterday", "last night", "this weekend", "on Saturday", "this morning", ""),
    "es": ("hoy", "ayer", "anoche", "este finde", "el sábado", "esta mañana", ""),
    "ca": ("avui", "ahir", "ahir a la nit", "aquest cap de setmana", "dissabte", "aquest matí", ""),
}
EXCLAIM = {
    "en": ("Love it!", "Can't wait to go back!", "Highly recommend.", "10/10", "What a day!", "So happy right now."),
    "es": ("¡Me encanta!", "¡Volveremos!", "Muy recomendable.", "¡Qué pasada!", "¡Qué día!", "Qué felicidad."),
    "ca": ("M'encanta!", "Hi tornarem!", "Molt recomanable.", "Quina passada!", "Quin dia!", "Quina felicitat."),
}
# Main languages: (templates with {np} {adj} {where} {when} {exclaim}, noun phrases, adjectives).
MAIN_VOCAB: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]] = {
    "en": {
        "food": (
            ("Just had {np} {where} and it was {adj}", "{np} {where}, {adj} as always",
             "Can't stop thinking about {np} we had {when}", "Sunday lunch: {np} {where}. {exclaim}",
             "Nothing beats {np} {where} {when}"),
            ("the seafood paella", "patatas bravas", "grilled octopus", "a huge plate of jamón", "homemade croquetas",
             "fresh churros with chocolate", "a proper vermouth with olives", "the tasting menu",
             "pan con tomate", "black rice with aioli", "crema catalana"),
            ("amazing", "absolutely delicious", "so tasty", "incredible", "worth every euro", "unbelievably good")),
        "beach": (
            ("Lazy afternoon {where}: {np} and nothing else", "{np} {when}, the water was {adj}",
             "Nothing beats {np} {where}", "Sun, sand and {np}. {exclaim}", "Started the day with {np} {where}"),
            ("a swim at sunrise", "the sea breeze", "a long walk along the shore", "sunset on the beach",
             "the calm blue sea", "volleyball on the sand", "a nap under the umbrella", "paddle surfing"),
            ("perfect", "crystal clear", "so refreshing", "warmer than expected", "gorgeous")),
        "football": (
            ("What a match {when}! {np} was {adj}", "Matchday {where}: {np}. {exclaim}",
             "Still can't believe {np} {when}", "{np} was {adj}. Come on Barça!",
             "Watching the game {where}, {np} was {adj}"),
            ("that last minute goal", "the second half", "our midfield", "the free kick",
             "the atmosphere in the stadium", "the derby", "the penalty save", "the starting eleven"),
            ("unreal", "pure magic", "a disaster", "world class", "electric")),
        "architecture": (
            ("Look at {np} {where}, {adj}", "Spent the morning admiring {np}", "{np} never gets old. {exclaim}",
             "The details on {np} are {adj}", "Walking past {np} {when}, still {adj}"),
            ("the Sagrada Familia facade", "Casa Batlló", "the modernist balconies", "the gothic cathedral",
             "those mosaic tiles", "the old tiled rooftops", "the stained glass windows", "the stone arches",
             "Park Güell"),
            ("stunning", "breathtaking", "a masterpiece", "so intricate", "beautiful")),
        "nightlife": (
            ("Great night out {where} with {np}", "{np} until 5am, {adj}", "Dancing all night to {np}. {exclaim}",
             "Friday vibes: {np} {where}", "Best party {when}, {np} was {adj}"),
            ("the best DJ set", "cocktails on a rooftop", "live jazz", "techno in a tiny club",
             "friends and too many gin tonics", "a secret speakeasy", "the open air party"),
            ("insane", "so much fun", "unforgettable", "wild", "epic")),
        "nature": (
            ("Hiking {when}, {np} was {adj}", "Escaped the city for {np}", "{np} and fresh air. {exclaim}",
             "Morning walk through {np}", "Nothing like {np} to recharge {when}"),
            ("the pine forest", "the view from the summit", "a quiet mountain trail", "the river valley",
             "wild flowers everywhere", "the old oak trees", "a waterfall hidden in the woods"),
            ("magical", "so peaceful", "breathtaking", "green and lush", "wonderful")),
    },
    "es": {
        "food": (
            ("Acabo de probar {np} {where} y es {adj}", "{np} {where}, {adj} como siempre",
             "Comida del domingo: {np} {where}. {exclaim}", "Sigo pensando en {np} que comimos {when}",
             "No hay nada como {np} {where}"),
            ("la paella de marisco", "unas patatas bravas", "pulpo a la brasa", "un plato de jamón ibérico",
             "croquetas caseras", "churros con chocolate", "un vermut con aceitunas", "el menú degustación",
             "pan con tomate", "arroz negro con alioli", "la crema catalana"),
            ("de diez", "espectacular", "increíble", "brutal", "una maravilla", "de otro nivel")),
        "beach": (
            ("Tarde tranquila {where}: {np} y nada más", "{np} {when}. El mar estaba {adj}",
             "Nada mejor que {np} {where}", "Sol, arena y {np}. {exclaim}", "Empezando el día con {np} {where}"),
            ("un baño al amanecer", "la brisa del mar", "un paseo por la orilla", "el atardecer en la playa",
             "vóley en la arena", "una siesta bajo la sombrilla", "paddle surf"),
            ("perfecto", "tranquilo", "precioso", "espectacular", "como un plato")),
        "football": (
            ("¡Qué partido {when}! {np}, {adj}", "Día de partido {where}: {np}. {exclaim}",
             "Todavía no me creo {np}. {exclaim}", "{np} ha sido {adj}. ¡Vamos Barça!",
             "Viendo el partido {where}, {np} {adj}"),
            ("ese gol en el último minuto", "la segunda parte", "nuestro centro del campo", "el tiro libre",
             "el ambiente del estadio", "el derbi", "la parada del penalti", "el once titular"),
            ("increíble", "de otro planeta", "un desastre", "de nivel mundial", "brutal")),
        "architecture": (
            ("Mirad {np} {where}: {adj}", "He pasado la mañana admirando {np}", "{np} nunca cansa. {exclaim}",
             "Los detalles de {np}, {adj}", "Pasando por delante de {np} {when}, {adj}"),
            ("la fachada de la Sagrada Familia", "la Casa Batlló", "los balcones modernistas", "la catedral gótica",
             "esos mosaicos", "los tejados antiguos", "las vidrieras", "los arcos de piedra", "el Park Güell"),
            ("impresionante", "una obra maestra", "qué maravilla", "espectacular", "precioso")),
        "nightlife": (
            ("Gran noche {where} con {np}", "{np} hasta las 5, {adj}", "Bailando toda la noche con {np}. {exclaim}",
             "Viernes: {np} {where}", "La mejor fiesta {when}, {np} {adj}"),
            ("el mejor DJ", "cócteles en una azotea", "jazz en directo", "techno en un club pequeño",
             "amigos y demasiados gin-tonics", "un bar clandestino", "la fiesta al aire libre"),
            ("una locura", "muy divertido", "inolvidable", "brutal", "épico")),
        "nature": (
            ("De excursión {when}: {np}, {adj}", "Huyendo de la ciudad hacia {np}", "{np} y aire puro. {exclaim}",
             "Paseo matinal por {np}", "Nada como {np} para desconectar {when}"),
            ("el bosque de pinos", "las vistas desde la cima", "un sendero de montaña", "el valle del río",
             "flores silvestres por todas partes", "los robles centenarios", "una cascada escondida"),
            ("mágico", "una paz total", "espectacular", "una maravilla", "precioso")),
    },
    "ca": {
        "food": (
            ("Acabo de tastar {np} {where} i és {adj}", "{np} {where}, {adj} com sempre",
             "Dinar de diumenge: {np} {where}. {exclaim}", "Encara penso en {np} que vam menjar {when}",
             "No hi ha res com {np} {where}"),
            ("la paella de marisc", "unes braves", "pop a la brasa", "un plat de pernil", "croquetes casolanes",
             "xurros amb xocolata", "un vermut amb olives", "el menú degustació", "pa amb tomàquet",
             "arròs negre amb allioli", "la crema catalana"),
            ("boníssim", "espectacular", "increïble", "de deu", "una meravella")),
        "beach": (
            ("Tarda tranquil·la {where}: {np} i res més", "{np} {when}. El mar estava {adj}",
             "No hi ha res millor que {np} {where}", "Sol, sorra i {np}. {exclaim}",
             "Començant el dia amb {np} {where}"),
            ("un bany a primera hora", "la marinada", "un passeig per la vora del mar", "la posta de sol a la platja",
             "vòlei a la sorra", "una migdiada sota el para-sol", "pàdel surf"),
            ("perfecte", "tranquil", "preciós", "espectacular", "com un plat")),
        "football": (
            ("Quin partit {when}! {np}, {adj}", "Dia de partit {where}: {np}. {exclaim}",
             "Encara no m'ho crec, {np}. {exclaim}", "{np} ha estat {adj}. Som-hi Barça!",
             "Mirant el partit {where}, {np} {adj}"),
            ("aquell gol a l'últim minut", "la segona part", "el nostre mig del camp", "el llançament de falta",
             "l'ambient de l'estadi", "el derbi", "l'aturada del penal", "l'onze inicial"),
            ("increïble", "d'un altre planeta", "un desastre", "de nivell mundial", "brutal")),
        "architecture": (
            ("Mireu {np} {where}: {adj}", "He passat el matí admirant {np}", "{np} no cansa mai. {exclaim}",
             "Els detalls de {np}, {adj}", "Passant per davant de {np} {when}, {adj}"),
            ("la façana de la Sagrada Família", "la Casa Batlló", "els balcons modernistes", "la catedral gòtica",
             "aquests mosaics", "les teulades antigues", "els vitralls", "els arcs de pedra", "el Park Güell"),
            ("impressionant", "una obra mestra", "quina meravella", "espectacular", "preciós")),
        "nightlife": (
            ("Gran nit {where} amb {np}", "{np} fins a les 5, {adj}", "Ballant tota la nit amb {np}. {exclaim}",
             "Divendres: {np} {where}", "La millor festa {when}, {np} {adj}"),
            ("el millor DJ", "còctels en un terrat", "jazz en directe", "techno en un club petit",
             "amics i massa gintònics", "un bar clandestí", "la festa a l'aire lliure"),
            ("una bogeria", "molt divertit", "inoblidable", "brutal", "èpic")),
        "nature": (
            ("D'excursió {when}: {np}, {adj}", "Fugint de la ciutat cap a {np}", "{np} i aire pur. {exclaim}",
             "Passeig matinal per {np}", "Res com {np} per desconnectar {when}"),
            ("el bosc de pins", "les vistes des del cim", "un corriol de muntanya", "la vall del riu",
             "flors silvestres pertot arreu", "els roures centenaris", "una cascada amagada"),
            ("màgic", "una pau total", "espectacular", "una meravella", "preciós")),
    },
}
# Other languages (dropped by the language filter): (templates with {np}, noun phrases).
OTHER_VOCAB: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "pt": {
        "food": (("Acabei de comer {np} e estava uma delícia, obrigado pela recomendação",
                  "Não há nada melhor do que {np} num restaurante pequeno da cidade"),
                 ("um bacalhau à brás", "pastéis de nata quentinhos", "sardinhas assadas",
                  "uma francesinha enorme")),
        "beach": (("Fim de tarde na praia com {np}, que saudades do verão",
                   "Não há nada melhor do que {np} depois do trabalho"),
                  ("o pôr do sol", "um mergulho no mar", "os amigos de sempre", "uma caminhada pela areia")),
        "football": (("Que jogo incrível! {np} foi espetacular, estamos juntos",
                      "Ainda estou a pensar naquele jogo, {np} foi inacreditável"),
                     ("o golo no último minuto", "a segunda parte", "o ambiente no estádio", "a defesa")),
        "architecture": (("Estou apaixonado por {np}, que cidade tão bonita",
                          "Passei a manhã a fotografar {np} no centro histórico"),
                         ("os azulejos antigos", "as janelas coloridas", "a catedral", "os telhados vermelhos")),
        "nightlife": (("Noite fantástica com {np}, voltámos para casa às seis da manhã",
                       "Sexta-feira à noite: {np} e muita música até tarde"),
                      ("os amigos", "um concerto de fado", "cocktails no terraço", "um DJ incrível")),
        "nature": (("Caminhada pela serra com {np}, o ar aqui é tão puro",
                    "Fugimos da cidade para ver {np} durante o fim de semana"),
                   ("vistas incríveis", "o rio", "a floresta", "as cascatas")),
    },
    "gl": {
        "food": (("Acabo de comer {np} e estaba moi boa, grazas pola recomendación",
                  "Non hai nada mellor ca {np} nunha taberna da vila"),
                 ("unha empanada de zamburiñas", "polbo á feira", "unhas filloas", "un caldo galego")),
        "beach": (("Serán na praia con {np}, que morriña do verán",
                   "Non hai nada mellor ca {np} despois do traballo"),
                  ("o solpor", "un baño no mar", "os amigos de sempre", "un paseo pola area")),
        "football": (("Que partido tan bo! {np} foi incrible, imos!",
                      "Aínda estou pensando no partido de onte, {np} foi tremendo"),
                     ("o gol do último minuto", "a segunda metade", "o ambiente do estadio", "a defensa")),
        "architecture": (("Estou namorado de {np}, que cidade tan fermosa",
                          "Pasei a mañá fotografando {np} na zona vella"),
                         ("as galerías de vidro", "a catedral", "as rúas de pedra", "os tellados vellos")),
        "nightlife": (("Noite fantástica con {np}, chegamos á casa ás seis da mañá",
                       "Venres á noite: {np} e moita música ata tarde"),
                      ("os amigos", "un concerto de gaitas", "cócteles na terraza", "un DJ tremendo")),
        "nature": (("Andaina polo monte con {np}, o aire aquí é moi puro",
                    "Fuximos da cidade para ver {np} esta fin de semana"),
                   ("vistas incribles", "o río", "a fraga", "as fervenzas")),
    },
    "eu": {
        "food": (("Gaur {np} jan dugu eta oso goxoa zegoen, eskerrik asko gomendioagatik",
                  "Ez dago ezer hoberik {np} baino lagunekin batera"),
                 ("pintxo gozoak", "bakailaoa pil-pilean", "txuleta ederra", "gazta eta sagardoa")),
        "beach": (("Arratsalde lasaia hondartzan {np} ikusten, uda maite dut",
                   "Ez dago ezer hoberik {np} baino lanaren ondoren"),
                  ("ilunabarra", "itsasoa", "olatuak", "lagunak")),
        "football": (("Zer partida! {np} ikaragarria izan da, aupa gu!",
                      "Oraindik atzoko partida buruan daukat, {np} zoragarria izan da"),
                     ("azken minutuko gola", "bigarren zatia", "estadioko giroa", "defentsa")),
        "architecture": (("Hiri honetako {np} oso politak dira benetan",
                          "Goiz osoa {np} argazkiak ateratzen eman dut"),
                         ("etxe zaharrak", "elizak", "kale estuak", "zubiak")),
        "nightlife": (("Gau zoragarria izan da: {np} eta dantza goizera arte",
                       "Ostiral gaua: {np} eta musika asko, bihar lo egingo dugu"),
                      ("lagunak", "kontzertua", "dantza", "musika zuzenean")),
        "nature": (("Mendira joan gara eta {np} ikusi ditugu, hemengo airea oso garbia da",
                    "Hiritik ihes egin dugu {np} ikusteko asteburuan"),
                   ("basoak", "ibaiak", "mendiak", "ur-jauziak")),
    },
    "fr": {
        "food": (("Je viens de manger {np} et c'était vraiment délicieux, merci pour le conseil",
                  "Rien de mieux que {np} dans un petit restaurant du quartier"),
                 ("une paella aux fruits de mer", "des tapas", "un plat de jambon", "des churros au chocolat")),
        "beach": (("Fin d'après-midi à la plage avec {np}, j'adore l'été",
                   "Rien de mieux que {np} après le travail"),
                  ("le coucher du soleil", "une baignade", "les copains", "une promenade sur le sable")),
        "football": (("Quel match incroyable ! {np} était magnifique, allez !",
                      "Je pense encore au match d'hier soir, {np} était incroyable"),
                     ("le but de la dernière minute", "la deuxième mi-temps", "l'ambiance du stade", "la défense")),
        "architecture": (("Je suis tombé amoureux de {np}, quelle ville magnifique",
                          "J'ai passé la matinée à photographier {np} dans la vieille ville"),
                         ("la façade", "la cathédrale", "les balcons", "les vieux toits")),
        "nightlife": (("Soirée géniale avec {np}, on est rentrés à six heures du matin",
                       "Vendredi soir : {np} et beaucoup de musique jusqu'au bout de la nuit"),
                      ("les amis", "un concert de jazz", "des cocktails sur la terrasse", "un DJ incroyable")),
        "nature": (("Randonnée en montagne avec {np}, l'air est tellement pur ici",
                    "On a quitté la ville pour voir {np} ce week-end"),
                   ("une vue incroyable", "la rivière", "la forêt", "les cascades")),
    },
    "de": {
        "food": (("Ich habe gerade {np} gegessen und es war wirklich lecker, danke für den Tipp",
                  "Es gibt nichts Besseres als {np} in einem kleinen Restaurant"),
                 ("eine Paella mit Meeresfrüchten", "Tapas", "Schinken", "Churros mit Schokolade")),
        "beach": (("Ein ruhiger Nachmittag am Strand: {np} und sonst nichts, ich liebe den Sommer",
                   "Heute war das Wetter perfekt für {np} am Meer"),
                  ("Sonne und Wellen", "Sand und Meer", "Eis und Sonnenschein", "Volleyball und Freunde")),
        "football": (("Was für ein Spiel, {np} war unglaublich, auf geht's!",
                      "Ich denke immer noch an {np} von gestern Abend"),
                     ("das Tor in der letzten Minute", "die zweite Halbzeit", "die Stimmung im Stadion", "die Abwehr")),
        "architecture": (("Ich habe mich in {np} verliebt, was für eine schöne Stadt",
                          "Den ganzen Morgen habe ich {np} in der Altstadt fotografiert"),
                         ("die Fassade", "die Kathedrale", "die alten Dächer", "die bunten Fliesen")),
        "nightlife": (("Was für eine Nacht! {np}, Tanzen und viel Spaß, wir sind erst um sechs nach Hause gekommen",
                       "Freitagabend: {np} und viel Musik bis zum Morgen"),
                      ("Freunde", "Cocktails auf der Dachterrasse", "Jazz live", "ein guter DJ")),
        "nature": (("Wanderung in den Bergen: wir haben {np} gesehen und frische Luft getankt, einfach herrlich",
                    "Wir sind aus der Stadt geflohen, um {np} zu sehen"),
                   ("den Wald", "den Fluss", "die Wasserfälle", "die Aussicht")),
    },
}
SHORT_CAPTIONS = {
    "en": ("Delicious!", "So good", "Wow", "Perfect day", "Goal!", "Amazing", "Sunset", "Unreal"),
    "es": ("Qué rico", "Brutal", "Golazo", "Precioso", "Qué pasada", "Increíble"),
    "ca": ("Boníssim", "Quina passada", "Gol!", "Preciós", "Som-hi", "Increïble"),
}
SPAM_TEMPLATES = {
    "en": ("{np} in {city}!! Best deals this week, link in bio", "Cheap flights to {city}: {np} included, book now"),
    "es": ("¡{np} en {city}! Las mejores ofertas de la semana", "Vuelos baratos a {city}: {np} incluido, reserva ya"),
    "ca": ("{np} a {city}! Les millors ofertes de la setmana", "Vols barats a {city}: {np} inclòs, reserva ara"),
}
SPAM_TAGS = ("travel", "deals", "cheapflights", "holidays")
TOPIC_TAGS = {
    "food": ("foodie", "tapas", "paella", "brunch", "yummy", "bcnfood", "gastronomia", "instafood"),
    "beach": ("beach", "platja", "playa", "summer", "sunset", "mar", "beachlife", "seaside"),
    "football": ("football", "futbol", "fcb", "barca", "matchday", "laliga", "forcabarca", "soccer"),
    "architecture": ("architecture", "gaudi", "modernisme", "arquitectura", "design", "sagradafamilia", "streetphoto"),
    "nightlife": ("nightlife", "party", "festa", "fiesta", "cocktails", "dj", "nitdefesta", "clubbing"),
    "nature": ("nature", "hiking", "montseny", "natura", "naturaleza", "mountains", "collserola", "outdoors"),
}
EMOJI = {
    "food": ("🥘", "😋", "🍤", "🍷"), "beach": ("🌊", "☀️", "🏖️", "🐚"), "football": ("⚽", "🔵🔴", "🏟️", "🙌"),
    "architecture": ("🏛️", "✨", "📸", "😍"), "nightlife": ("🍸", "🎶", "🪩", "🔥"), "nature": ("🌲", "⛰️", "🌿", "🥾"),
}
SUBREDDITS = {
    "food": ("FoodPorn", "spain"), "beach": ("beach", "Barcelona"), "football": ("soccer", "Barca"),
    "architecture": ("ArchitecturePorn", "Barcelona"), "nightlife": ("Barcelona", "spain"),
    "nature": ("EarthPorn", "hiking"),
}
CITY_SUBREDDITS = {"Barcelona": "Barcelona", "Madrid": "madrid", "Lisbon": "lisboa", "London": "london"}
FIRST = ("marta", "jordi", "laia", "pau", "nuria", "carlos", "lucia", "ana", "joan", "mireia", "sergi", "elena",
         "david", "sara", "alex", "marc", "julia", "pablo", "ines", "tom", "emma", "joao", "rita", "iker", "ane",
         "sophie", "lukas", "clara", "oriol", "berta", "hugo", "irene", "xavi", "noa", "leo", "carla")
LAST = ("puig", "garcia", "ferrer", "soler", "vidal", "martin", "lopez", "serra", "costa", "silva", "smith", "brown",
        "mas", "roca", "vila", "sanz", "perez", "romero", "santos", "oliveira", "etxeberria", "dubois", "muller")
HANDLE_WORDS = ("bcn", "foodie", "travels", "photo", "fc", "lover", "daily", "art", "vibes", "life", "sport",
                "walks", "eats", "snaps", "gol", "nit", "mar", "pics")
SPAM_NAMES = {
    "twitter": ("cheap_trips_24", "deals4travel", "hotel_offers_x"),
    "reddit": ("TravelDeals247", "BestHotelOffers", "FlightHacksDaily"),
    "instagram": ("best.deals.travel", "cheapflights.now", "hotel_offers_daily"),
}
CP1252_TITLE = "Què bé! Pa amb tomàquet i cafè al mercat de Santa Caterina — només 3€"

# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class DemoFile:
    """One file of the dataset: the reader format it belongs to, its path relative to the root, its bytes."""

    format: str  # twitter-v2 | reddit | instaloader | media | labels
    relpath: str
    data: bytes


@dataclass
class DemoDataset:
    """All files of the demo dataset and the facts a test can check an ingest of them against."""

    files: list[DemoFile]
    expected: dict

    def file(self, relpath: str) -> DemoFile:
        """The file at ``relpath`` (KeyError if there is none)."""
        for item in self.files:
            if item.relpath == relpath:
                return item
        raise KeyError(relpath)

    def by_format(self, fmt: str) -> list[DemoFile]:
        """The files of one format, in dataset order."""
        return [item for item in self.files if item.format == fmt]


def generate_demo(n_posts: int = 3000, seed: int = 7) -> DemoDataset:
    """Generate the demo dataset: ``n_posts`` distinct posts (well-formed or with a planted defect)."""
    if n_posts < MIN_POSTS:
        raise ValueError(f"n_posts must be at least {MIN_POSTS}, got {n_posts}")
    rng = random.Random(seed)
    counts = _platform_counts(n_posts)
    plans = {platform: _plan_platform(rng, platform, counts[platform]) for platform in PLATFORMS}
    near_duplicates = _plant_near_duplicates(rng, [p for platform in PLATFORMS for p in plans[platform].posts])
    _plant_defects(rng, plans)
    out = _Output()
    _write_twitter(rng, plans["twitter"], out)
    _write_reddit(rng, plans["reddit"], out)
    _write_instagram(rng, plans["instagram"], out)
    labelled = _write_labels(rng, plans, out)
    expected = _expected(n_posts, seed, plans, out, near_duplicates, labelled)
    return DemoDataset(files=out.files, expected=expected)


# ----------------------------------------------------------------------------- the plan: users and posts


@dataclass
class _User:
    """An account on one platform."""

    platform: str
    native_id: str
    username: str
    name: str
    city: City
    lang: str
    topic: str
    kind: str  # heavy | medium | normal | spam
    created_ts: int
    followers: int
    following: int
    fullname: str = ""  # reddit t2_ id

    @property
    def author_id(self) -> str:
        """The warehouse author id the platform's normalizer gives this user."""
        return f"{self.platform}:{self.username if self.platform == 'reddit' else self.native_id}"


@dataclass
class _Image:
    """A picture to render: topic, seed and size; optionally a near-duplicate of another one, or broken."""

    topic: str
    seed: int
    width: int
    height: int
    quality: int
    source: _Image | None = None
    change: str | None = None  # reencode | brighten | resize
    corrupt: bool = False


@dataclass
class _Post:
    """One planned post (``text`` is the tweet, caption or Reddit title)."""

    platform: str
    user: _User
    ts: int
    topic: str
    lang: str
    city: City
    kind: str = "normal"  # normal | short | empty | spam | duplicate_text | retweet
    text: str | None = None
    body: str = ""  # reddit selftext
    native_id: str = ""
    point: tuple[float, float] | None = None  # (lat, lon)
    place: bool = False
    images: list[_Image] = field(default_factory=list)
    repost_of: _Post | None = None
    copy_of: _Post | None = None
    defect: str | None = None
    community: str | None = None  # subreddit, or instaloader target folder
    in_dump: bool = False
    score: int = 0
    video: bool = False
    location: dict | None = None  # instagram location
    spam_city: str | None = None

    @property
    def post_id(self) -> str:
        """The warehouse id the platform's normalizer gives this post."""
        return f"{self.platform}:{'t3_' if self.platform == 'reddit' else ''}{self.native_id}"


@dataclass
class _Plan:
    """The users and posts (in time order) of one platform."""

    platform: str
    users: list[_User]
    posts: list[_Post]


def _platform_counts(n_posts: int) -> dict[str, int]:
    """Posts per platform."""
    twitter = round(n_posts * PLATFORM_SHARE["twitter"])
    reddit = round(n_posts * PLATFORM_SHARE["reddit"])
    return {"twitter": twitter, "reddit": reddit, "instagram": n_posts - twitter - reddit}


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """A key of ``weights`` drawn in proportion to its weight."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _random_city(rng: random.Random) -> City:
    """A city drawn by its weight (Barcelona most often)."""
    return rng.choices(CITIES, weights=[city.weight for city in CITIES])[0]


def _base36(value: int) -> str:
    """``value`` in base 36 (Reddit ids)."""
    digits = ""
    while value:
        value, rest = divmod(value, 36)
        digits = BASE36[rest] + digits
    return digits or "0"


def _username(rng: random.Random, platform: str) -> str:
    """A plausible handle for ``platform``."""
    first, last, word = rng.choice(FIRST), rng.choice(LAST), rng.choice(HANDLE_WORDS)
    number = str(rng.randint(1, 99))
    if platform == "twitter":
        name = rng.choice((f"{first}_{last}", f"{first}{last}{number}", f"{word}_{first}", f"{first.title()}{word}"))
        return name[:15]
    if platform == "instagram":
        return rng.choice((f"{first}.{last}", f"{first}_{word}", f"{word}.{first}{number}", f"{first}{last}"))
    return rng.choice((f"{first.title()}{last.title()}{number}", f"{word}_{first}{number}",
                       f"Throwaway{number}{first}"))


def _make_user(rng: random.Random, platform: str, username: str, kind: str) -> _User:
    """An account with a home city, a main language and a favourite topic."""
    if platform == "twitter":
        native_id = str(rng.choice((rng.randint(10**7, 10**10), rng.randint(10**17, 17 * 10**17))))
    elif platform == "instagram":
        native_id = str(rng.randint(10**9, 7 * 10**10))
    else:
        native_id = username
    lang = _weighted(rng, LANG_MIX[platform])
    return _User(
        platform=platform, native_id=native_id, username=username,
        name=f"{username.split('.')[0].split('_')[0].title()} {rng.choice(LAST).title()}",
        city=_random_city(rng), lang=lang if kind != "spam" else rng.choice(MAIN_LANGS),
        topic=rng.choice(TOPICS), kind=kind, created_ts=START - rng.randint(30, 4000) * 86_400,
        followers=int(rng.paretovariate(1.2) * 40), following=rng.randint(10, 900),
        fullname=f"t2_{_base36(rng.getrandbits(40))}",
    )


def _make_users(rng: random.Random, platform: str, n_posts: int) -> tuple[list[_User], list[_User]]:
    """(accounts, one author per post slot): heavy, medium, spam and normal accounts."""
    taken: set[str] = set()
    users: list[_User] = []
    slots: list[_User] = []

    def new_user(kind: str, username: str | None = None) -> _User:
        name = username or _username(rng, platform)
        while name.lower() in taken:
            name = _username(rng, platform)
        taken.add(name.lower())
        user = _make_user(rng, platform, name, kind)
        users.append(user)
        return user

    cap = max(3, n_posts // 8)
    for kind, count, low, high in (("heavy", 2 if platform == "twitter" else 1, 30, 60),
                                   ("medium", 5 if platform == "twitter" else 3, 11, 20)):
        for _ in range(count):
            slots += [new_user(kind)] * min(rng.randint(low, high), cap)
    spam_users = [new_user("spam", name) for name in SPAM_NAMES[platform]]
    spam_posts = max(3, round(n_posts * 0.02))
    slots += [spam_users[i % len(spam_users)] for i in range(spam_posts)]
    while len(slots) < n_posts:
        slots += [new_user("normal")] * rng.choice((1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 8))
    slots = slots[:n_posts]
    rng.shuffle(slots)
    return users, slots


def _plan_platform(rng: random.Random, platform: str, n_posts: int) -> _Plan:
    """Users and posts of one platform, in time order, with texts, geo, images and duplicates."""
    users, slots = _make_users(rng, platform, n_posts)
    mentionable = [u for u in users if u.kind != "spam"]
    times = sorted(START + rng.randrange(SPAN) for _ in slots)
    posts = [_plan_post(rng, platform, user, ts, mentionable) for user, ts in zip(slots, times)]
    if platform == "instagram":
        _assign_instagram_targets(rng, posts)
    _plant_copies(rng, posts)
    if platform == "twitter":
        _assign_twitter_ids(rng, posts)
    elif platform == "reddit":
        _assign_reddit_ids(rng, posts)
    else:
        _assign_instagram_ids(rng, posts)
    return _Plan(platform, users, posts)


def _plan_post(rng: random.Random, platform: str, user: _User, ts: int, mentionable: list[_User]) -> _Post:
    """One post by ``user`` at ``ts``: kind, topic, language, city, text, geo and images."""
    topic = user.topic if rng.random() < (0.8 if user.kind == "heavy" else 0.5) else rng.choice(TOPICS)
    lang = user.lang if rng.random() < 0.8 else _weighted(rng, LANG_MIX[platform])
    city = user.city if rng.random() < 0.85 else _random_city(rng)
    post = _Post(platform=platform, user=user, ts=ts, topic=topic, lang=lang, city=city)
    draw = rng.random()
    if user.kind == "spam":
        post.kind, post.lang = "spam", lang if lang in MAIN_LANGS else "en"
    elif draw < 0.03:
        post.kind, post.lang = "short", lang if lang in MAIN_LANGS else "es"
    elif draw < 0.07 and platform == "instagram":
        post.kind = "empty"
    post.text = _compose(rng, post, mentionable)
    if platform == "reddit" and rng.random() < 0.2 and post.kind == "normal":
        first = _body(rng, lang, topic, city)
        post.body = _join(first, _second_sentence(rng, post, first))
    else:
        post.images = _plan_images(rng, platform, topic)
    post.score = int(rng.paretovariate(1.1) * (3 if platform != "reddit" else 12))
    if platform == "twitter":
        _plan_geo(rng, post)
    return post


def _plan_images(rng: random.Random, platform: str, topic: str) -> list[_Image]:
    """The pictures of a post: most tweets, most Reddit posts and every Instagram post have some."""
    if platform == "twitter":
        count = 0 if rng.random() < 0.35 else (2 if rng.random() < 0.08 else 1)
    elif platform == "reddit":
        count = 1
    else:
        count = rng.choice((2, 3)) if rng.random() < 0.08 else 1
    return [_new_image(rng, topic) for _ in range(count)]


def _new_image(rng: random.Random, topic: str) -> _Image:
    """A fresh picture of ``topic``."""
    return _Image(topic=topic, seed=rng.getrandbits(63), width=rng.randint(64, 128), height=rng.randint(64, 128),
                  quality=rng.randint(80, 92))


def _plan_geo(rng: random.Random, post: _Post) -> None:
    """About 70% of tweets carry a point (and place); a few more only a place."""
    draw = rng.random()
    if draw < 0.70:
        city = post.city
        lat = min(max(rng.gauss(city.lat, 0.02), city.bbox[1]), city.bbox[3])
        lon = min(max(rng.gauss(city.lon, 0.02), city.bbox[0]), city.bbox[2])
        post.point, post.place = (round(lat, 6), round(lon, 6)), True
    elif draw < 0.75:
        post.place = True


# ----------------------------------------------------------------------------- texts


def _clean(text: str) -> str:
    """Collapse the gaps empty slots leave and capitalise the first letter."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?:])", r"\1", text)
    text = re.sub(r"([,:])(?=[.!?])", "", text).strip(" ,")
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1:]
    return text


def _body(rng: random.Random, lang: str, topic: str, city: City) -> str:
    """One sentence about ``topic`` in ``lang``; main languages may name a spot of ``city``."""
    if lang not in MAIN_VOCAB:
        templates, phrases = OTHER_VOCAB[lang][topic]
        return _clean(rng.choice(templates).format(np=rng.choice(phrases)))
    templates, phrases, adjectives = MAIN_VOCAB[lang][topic]
    where = WHERE[lang].format(rng.choice(city.spots)) if rng.random() < 0.5 else ""
    return _clean(rng.choice(templates).format(
        np=rng.choice(phrases), adj=rng.choice(adjectives), where=where, when=rng.choice(WHEN[lang]),
        exclaim=rng.choice(EXCLAIM[lang])))


def _hashtags(rng: random.Random, post: _Post) -> list[str]:
    """Hashtags for a tweet or caption (Barcelona posts may carry a home-city tag)."""
    if post.platform == "reddit":
        return []
    low, high = (0, 3) if post.platform == "twitter" else (2, 6)
    tags = rng.sample(TOPIC_TAGS[post.topic], rng.randint(low, high))
    if post.city.name == HOME_CITY and rng.random() < 0.5:
        tags.append(rng.choice(HOME_TAGS))
    return [tag.title() if rng.random() < 0.2 else tag for tag in tags]


def _compose(rng: random.Random, post: _Post, mentionable: list[_User]) -> str | None:
    """The post's text for its kind (normal, short, empty, spam)."""
    if post.kind == "empty":
        return None
    if post.kind == "short":
        return rng.choice(SHORT_CAPTIONS[post.lang])
    if post.kind == "spam":
        return _spam_text(rng, post)
    text = _body(rng, post.lang, post.topic, post.city)
    if rng.random() < (0.5 if post.platform == "reddit" else 0.3):
        text = _join(text, _second_sentence(rng, post, text))
    if rng.random() < 0.35 and post.platform != "reddit":
        text += " " + rng.choice(EMOJI[post.topic])
    if post.platform != "reddit" and rng.random() < 0.15:
        other = rng.choice([u for u in mentionable if u is not post.user] or mentionable)
        text = f"@{other.username} {text}" if rng.random() < 0.5 else f"{text} @{other.username}"
    tags = _hashtags(rng, post)
    if tags:
        text += ("\n\n" if post.platform == "instagram" else " ") + " ".join(f"#{tag}" for tag in tags)
    return text


def _join(first: str, second: str) -> str:
    """Two sentences, the first closed with a full stop when it has no final punctuation."""
    return f"{first}{'' if first[-1:] in '.!?' else '.'} {second}"


def _second_sentence(rng: random.Random, post: _Post, first: str) -> str:
    """Another sentence on the same topic, different from ``first``."""
    sentence = first
    for _ in range(5):
        sentence = _body(rng, post.lang, post.topic, post.city)
        if sentence != first:
            break
    return sentence


def _spam_text(rng: random.Random, post: _Post) -> str:
    """Other-city spam: a deal naming Madrid, Paris, London or New York in the text or the hashtags."""
    city, tag = rng.choice(SPAM_CITIES)
    post.spam_city = city
    _, phrases, _ = MAIN_VOCAB[post.lang][post.topic]
    if rng.random() < 0.6:
        text = _clean(rng.choice(SPAM_TEMPLATES[post.lang]).format(np=rng.choice(phrases), city=city))
        tags = [tag] + rng.sample(SPAM_TAGS, 2)
    else:  # the city only in a hashtag
        text = _body(rng, post.lang, post.topic, CITY_BY_NAME[HOME_CITY])
        tags = [tag, tag + rng.choice(("food", "trip", "life"))] + rng.sample(SPAM_TAGS, 1)
    if post.platform == "reddit":
        return text if city in text else f"{text} ({city})"
    return text + " " + " ".join(f"#{t}" for t in tags)


def _plant_copies(rng: random.Random, posts: list[_Post]) -> None:
    """Exact duplicate texts (copy-paste accounts) and, on X, retweets of earlier tweets."""
    platform = posts[0].platform
    p_copy, p_retweet = {"twitter": (0.025, 0.05), "reddit": (0.01, 0.0), "instagram": (0.015, 0.0)}[platform]
    for index, post in enumerate(posts):
        if index < 20 or post.kind != "normal" or post.body:
            continue
        earlier = [p for p in posts[max(0, index - 400):index]
                   if p.kind == "normal" and not p.body and p.user is not post.user]
        if not earlier:
            continue
        draw = rng.random()
        if draw < p_retweet:
            original = rng.choice(earlier)
            post.kind, post.repost_of = "retweet", original
            post.topic, post.lang, post.city = original.topic, original.lang, original.city
            post.text = f"RT @{original.user.username}: {original.text}"
            post.images, post.point, post.place = [], None, False
        elif draw < p_retweet + p_copy:
            original = rng.choice(earlier)
            post.kind, post.copy_of = "duplicate_text", original
            post.topic, post.lang, post.text = original.topic, original.lang, original.text


def _assign_twitter_ids(rng: random.Random, posts: list[_Post]) -> None:
    """Snowflake ids from the creation time, strictly increasing."""
    previous = 0
    for post in posts:
        snowflake = max(((post.ts * 1000 + rng.randrange(1000) - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22),
                        previous + 1)
        post.native_id, previous = str(snowflake), snowflake


def _assign_reddit_ids(rng: random.Random, posts: list[_Post]) -> None:
    """Base-36 ids increasing with time; subreddits; the oldest share goes to the dump."""
    current = int("1k00000", 36)
    cutoff = int(len(posts) * DUMP_SHARE)
    for index, post in enumerate(posts):
        current += rng.randint(5, 400)
        post.native_id = _base36(current)
        subs = SUBREDDITS[post.topic]
        post.community = CITY_SUBREDDITS[post.city.name] if rng.random() < 0.25 else rng.choice(subs)
        if post.spam_city:
            post.community = rng.choice(("travel", "Barcelona"))
        post.in_dump = index < cutoff


def _assign_instagram_targets(rng: random.Random, posts: list[_Post]) -> None:
    """instaloader target folders: a profile for frequent posters, else a hashtag the caption carries."""
    for post in posts:
        frequent = post.user.kind in ("heavy", "medium")
        post.community = post.user.username if frequent else rng.choice(("#barcelona", "#bcn"))
        if not frequent and post.text and post.kind == "normal" and post.community not in post.text.lower():
            post.text += f" {post.community}"


def _assign_instagram_ids(rng: random.Random, posts: list[_Post]) -> None:
    """Media ids and shortcodes (unique file names per folder), locations."""
    used: dict[str, set[int]] = {}
    for post in posts:
        taken = used.setdefault(post.community, set())
        while post.ts in taken:
            post.ts += 1
        taken.add(post.ts)
        media_id = ((post.ts * 1000 + rng.randrange(1000) - INSTAGRAM_EPOCH_MS) << 23) | rng.getrandbits(23)
        post.native_id = _shortcode(media_id)
        post.video = len(post.images) == 1 and rng.random() < 0.03
        if rng.random() < 0.6:
            spot = rng.choice(post.city.spots)
            name = spot if spot == post.city.name else f"{spot}, {post.city.name}"
            post.location = {"id": str(200_000_000 + sum(ord(c) * 131 ** i for i, c in enumerate(name)) % 10**9),
                             "has_public_page": True, "name": name, "slug": _slug(name).replace("_", "-")}
            if rng.random() < 0.5:
                post.location["lat"] = round(rng.gauss(post.city.lat, 0.02), 6)
                post.location["lng"] = round(rng.gauss(post.city.lon, 0.02), 6)


def _shortcode(media_id: int) -> str:
    """instaloader's ``Post.mediaid_to_shortcode``: base64url of the 9-byte id, leading 'A's dropped."""
    return b64encode(media_id.to_bytes(9, "big"), b"-_").decode().lstrip("A")


def _slug(text: str) -> str:
    """An ASCII slug of ``text`` (Reddit permalinks, location slugs)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:50] or "post"


# ----------------------------------------------------------------------------- planted problems


def _referenced(plans: dict[str, _Plan]) -> set[int]:
    """ids() of posts something else points at (retweeted, copied, near-duplicated): never broken."""
    refs: set[int] = set()
    for plan in plans.values():
        for post in plan.posts:
            for other in (post.repost_of, post.copy_of):
                if other is not None:
                    refs.add(id(other))
            if any(image.source is not None for image in post.images):
                refs.add(id(post))
    return refs


def _plant_near_duplicates(rng: random.Random, posts: list[_Post]) -> list[tuple[_Post, _Post, str]]:
    """About 1% of image posts get a re-encoded / brightened / downscaled copy of a same-topic post's image."""
    with_images = [p for p in posts if p.images and p.kind != "retweet"]
    count = max(3, len(with_images) // 100)
    targets = rng.sample(with_images, count)
    used = {id(p) for p in targets}
    pairs = []
    for target in targets:
        sources = [p for p in with_images if p.topic == target.topic and id(p) not in used]
        if not sources:
            continue
        source = rng.choice(sources)
        used.add(id(source))
        change = rng.choice(("reencode", "brighten", "resize"))
        original = source.images[0]
        scale = 0.8 if change == "resize" else 1.0  # a smaller re-upload, still >= 64 px
        target.images[0] = _Image(topic=original.topic, seed=original.seed,
                                  width=max(64, round(original.width * scale)),
                                  height=max(64, round(original.height * scale)), quality=original.quality,
                                  source=original, change=change)
        pairs.append((target, source, change))
    return pairs


def _plant_defects(rng: random.Random, plans: dict[str, _Plan]) -> None:
    """Break a few posts on purpose: huge text, impossible coordinates, corrupt images, a cp1252 title."""
    refs = _referenced(plans)

    def pick(platform: str, ok) -> _Post:
        candidates = [p for p in plans[platform].posts
                      if p.kind == "normal" and p.defect is None and id(p) not in refs and ok(p)]
        return rng.choice(candidates)

    tweet = pick("twitter", lambda p: not p.images)
    tweet.defect = "oversized_text"
    tweet.text = (tweet.text or "") + " " + "spam " * (OVERSIZED_CHARS // 5)
    pick("twitter", lambda p: p.point is not None).defect = "impossible_coordinates"
    broken = pick("twitter", lambda p: len(p.images) == 1)
    broken.defect, broken.images[0].corrupt = "corrupt_image", True
    broken = pick("instagram", lambda p: len(p.images) == 1 and not p.video)
    broken.defect, broken.images[0].corrupt = "corrupt_image", True
    legacy = pick("reddit", lambda p: p.in_dump and not p.body)
    legacy.defect, legacy.text, legacy.lang, legacy.topic = "non_utf8_text", CP1252_TITLE, "ca", "food"
    legacy.user = _User(platform="reddit", native_id="jordi_puig_bcn", username="jordi_puig_bcn", name="Jordi Puig",
                        city=CITY_BY_NAME[HOME_CITY], lang="ca", topic="food", kind="normal",
                        created_ts=START - 900 * 86_400, followers=0, following=0, fullname="t2_9x2kq1m0")


# ----------------------------------------------------------------------------- images


Color = tuple[int, int, int]


def _jitter(rng: np.random.Generator, color: Color, amount: int = 18) -> Color:
    """``color`` with each channel moved by up to ``amount``."""
    red, green, blue = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)
    return red, green, blue


def _paint_food(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A plate on a wooden table with warm-coloured food."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (118, 78, 48)))
    for _ in range(int(rng.integers(2, 6))):
        y = int(rng.integers(0, h))
        draw.line((0, y, w, y + int(rng.integers(-8, 9))), fill=_jitter(rng, (92, 58, 34)), width=2)
    for _ in range(int(rng.integers(0, 3))):  # glasses and small dishes around the plate
        gx, gy, gr = w * rng.uniform(0, 1), h * rng.uniform(0, 1), min(w, h) * rng.uniform(0.06, 0.16)
        colour = ((200, 60, 70), (230, 220, 190))[int(rng.integers(2))]
        draw.ellipse((gx - gr, gy - gr, gx + gr, gy + gr), fill=_jitter(rng, colour))
    if rng.random() < 0.5:
        nx, ny = w * rng.uniform(0, 0.8), h * rng.uniform(0, 0.8)
        napkin = (nx, ny, nx + w * rng.uniform(0.15, 0.3), ny + h * rng.uniform(0.2, 0.4))
        draw.rectangle(napkin, fill=_jitter(rng, (226, 226, 236)))
    cx, cy = w * rng.uniform(0.22, 0.78), h * rng.uniform(0.22, 0.78)
    r = min(w, h) * rng.uniform(0.2, 0.45)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_jitter(rng, (238, 228, 206)))
    palette = ((226, 120, 34), (196, 46, 32), (240, 196, 60), (150, 86, 40), (96, 146, 52))
    for _ in range(int(rng.integers(3, 8))):
        bx, by = cx + rng.uniform(-0.55, 0.55) * r, cy + rng.uniform(-0.55, 0.55) * r
        br = r * rng.uniform(0.12, 0.35)
        blob = (bx - br, by - br * rng.uniform(0.6, 1.0), bx + br, by + br)
        draw.ellipse(blob, fill=_jitter(rng, palette[int(rng.integers(5))]))


def _paint_beach(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Sky, sea and a sloping shore, a sun, clouds, boats, towels and umbrellas."""
    horizon = h * rng.uniform(0.2, 0.55)
    left, right = horizon + h * rng.uniform(0.08, 0.35), horizon + h * rng.uniform(0.08, 0.35)
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (112, 182, 234)))
    draw.rectangle((0, horizon, w, h), fill=_jitter(rng, (26, 112, 170)))
    draw.polygon([(0, left), (w, right), (w, h), (0, h)], fill=_jitter(rng, (232, 210, 160)))
    sx, sy, sr = w * rng.uniform(0.05, 0.95), horizon * rng.uniform(0.15, 0.7), min(w, h) * rng.uniform(0.05, 0.14)
    draw.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=_jitter(rng, (255, 228, 120), 10))
    for _ in range(int(rng.integers(0, 4))):
        cx, cy, cr = rng.uniform(0, w), rng.uniform(0, horizon * 0.8), rng.uniform(4, w * 0.18)
        draw.ellipse((cx - cr, cy - cr / 2.5, cx + cr, cy + cr / 2.5), fill=_jitter(rng, (245, 248, 252), 8))
    for _ in range(int(rng.integers(0, 3))):
        bx, by = rng.uniform(0, w), rng.uniform(horizon + 2, min(left, right))
        draw.polygon([(bx, by), (bx + 6, by), (bx + 3, by - 8)], fill=(250, 250, 250))
    for _ in range(int(rng.integers(0, 5))):
        colour = ((220, 40, 40), (250, 200, 30), (40, 160, 220), (240, 120, 180))[int(rng.integers(4))]
        ux, uy, ur = w * rng.uniform(0.05, 0.95), rng.uniform(max(left, right), h), min(w, h) * rng.uniform(0.06, 0.2)
        if rng.random() < 0.5:
            draw.pieslice((ux - ur, uy - ur, ux + ur, uy + ur), 180, 360, fill=_jitter(rng, colour))
        else:
            draw.rectangle((ux - ur, uy - ur / 3, ux + ur, uy + ur / 3), fill=_jitter(rng, colour))


def _paint_football(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A striped pitch with white lines, a ball and blaugrana shirts."""
    stripes = int(rng.integers(3, 9))
    light, dark = _jitter(rng, (62, 162, 64)), _jitter(rng, (44, 134, 50))
    vertical = rng.random() < 0.5
    for i in range(stripes):
        a, b = i * (w if vertical else h) / stripes, (i + 1) * (w if vertical else h) / stripes
        draw.rectangle((a, 0, b, h) if vertical else (0, a, w, b), fill=light if i % 2 else dark)
    white = _jitter(rng, (240, 240, 240), 10)
    inset = int(rng.integers(3, 10))
    draw.rectangle((inset, inset, w - inset, h - inset), outline=white, width=2)
    cx, cy, cr = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7), min(w, h) * rng.uniform(0.12, 0.25)
    draw.line((cx, 0, cx, h) if rng.random() < 0.5 else (0, cy, w, cy), fill=white, width=2)
    draw.ellipse((cx - cr, cy - cr, cx + cr, cy + cr), outline=white, width=2)
    bx, by, br = w * rng.uniform(0.1, 0.9), h * rng.uniform(0.1, 0.9), min(w, h) * rng.uniform(0.05, 0.09)
    draw.ellipse((bx - br, by - br, bx + br, by + br), fill=(250, 250, 250))
    draw.ellipse((bx - br / 3, by - br / 3, bx + br / 3, by + br / 3), fill=(20, 20, 20))
    for _ in range(int(rng.integers(0, 4))):
        px, py = w * rng.uniform(0.05, 0.9), h * rng.uniform(0.05, 0.8)
        colour = ((165, 0, 68), (0, 77, 152))[int(rng.integers(2))]
        draw.rectangle((px, py, px + w * 0.06, py + h * 0.14), fill=_jitter(rng, colour, 12))


def _paint_architecture(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Pale sky and stone / terracotta buildings with windows and spires."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (188, 208, 228)))
    palette = ((204, 172, 128), (182, 96, 62), (150, 150, 150), (220, 200, 170))
    x = -rng.uniform(0, w * 0.2)
    while x < w:
        width, top = w * rng.uniform(0.18, 0.45), h * rng.uniform(0.15, 0.55)
        draw.rectangle((x, top, x + width, h), fill=_jitter(rng, palette[int(rng.integers(4))]))
        if rng.random() < 0.4:
            draw.polygon([(x + width * 0.3, top), (x + width * 0.5, top - h * rng.uniform(0.1, 0.25)),
                          (x + width * 0.7, top)], fill=_jitter(rng, (170, 140, 100)))
        step = rng.uniform(7, 13)
        window = _jitter(rng, (60, 60, 72), 12)
        for wy in np.arange(top + 4, h - 6, step):
            for wx in np.arange(x + 3, x + width - 5, step):
                draw.rectangle((wx, wy, wx + step * 0.45, wy + step * 0.6), fill=window)
        x += width + rng.uniform(0, w * 0.05)


def _paint_nightlife(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A dark room with neon lights and laser beams."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (18, 10, 34), 8))
    palette = ((255, 40, 200), (40, 230, 255), (150, 60, 255), (255, 220, 60))
    ox, oy = w * rng.uniform(0.2, 0.8), h * rng.uniform(0.0, 0.3)
    for _ in range(int(rng.integers(2, 6))):
        draw.line((ox, oy, rng.uniform(0, w), h), fill=_jitter(rng, palette[int(rng.integers(4))], 20), width=1)
    for _ in range(int(rng.integers(6, 15))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, min(w, h) * 0.12)
        colour = _jitter(rng, palette[int(rng.integers(4))], 20)
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=2)


def _paint_nature(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Sky, grey mountains and a dark green forest of triangular trees."""
    horizon = h * rng.uniform(0.3, 0.55)
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (150, 198, 236)))
    for _ in range(int(rng.integers(1, 3))):
        peak = rng.uniform(0, w)
        top = horizon - h * rng.uniform(0.1, 0.3)
        mountain = [(peak - w * 0.6, horizon), (peak, top), (peak + w * 0.6, horizon)]
        draw.polygon(mountain, fill=_jitter(rng, (112, 124, 128)))
    draw.rectangle((0, horizon, w, h), fill=_jitter(rng, (34, 86, 40)))
    greens = ((22, 80, 34), (38, 104, 44), (56, 120, 52))
    for _ in range(int(rng.integers(5, 14))):
        tx, base = rng.uniform(0, w), rng.uniform(horizon, h * 1.05)
        size = h * rng.uniform(0.12, 0.3)
        draw.rectangle((tx - 1.5, base - size * 0.3, tx + 1.5, base), fill=_jitter(rng, (90, 60, 30), 10))
        crown = [(tx - size * 0.35, base - size * 0.25), (tx, base - size), (tx + size * 0.35, base - size * 0.25)]
        draw.polygon(crown, fill=_jitter(rng, greens[int(rng.integers(3))]))


PAINTERS = {
    "food": _paint_food, "beach": _paint_beach, "football": _paint_football,
    "architecture": _paint_architecture, "nightlife": _paint_nightlife, "nature": _paint_nature,
}


def _render(image: _Image) -> Image.Image:
    """The picture of ``image``'s topic for its seed: shapes, then pixel noise (no two are identical)."""
    rng = np.random.default_rng(image.seed)
    canvas = Image.new("RGB", (image.width, image.height))
    PAINTERS[image.topic](ImageDraw.Draw(canvas), rng, image.width, image.height)
    pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0.0, 6.0, (image.height, image.width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(picture: Image.Image, quality: int) -> bytes:
    """JPEG bytes of ``picture``."""
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _image_bytes(image: _Image, cache: dict[int, bytes]) -> bytes:
    """The file content of ``image`` (a near-duplicate re-renders its source, then changes it slightly)."""
    if id(image) in cache:
        return cache[id(image)]
    picture = _render(image.source or image)
    quality = image.quality
    if picture.size != (image.width, image.height):  # change == "resize": a smaller re-upload
        picture = picture.resize((image.width, image.height))
    if image.change == "reencode":
        quality = max(50, quality - 30)
    elif image.change == "brighten":
        picture = Image.fromarray(np.clip(np.asarray(picture, dtype=np.int16) + 12, 0, 255).astype(np.uint8))
    data = _jpeg(picture, quality)
    if image.corrupt:
        data = data[: len(data) // 3]  # an interrupted download: header fine, scan data cut
    cache[id(image)] = data
    return data


# ----------------------------------------------------------------------------- serialisation


@dataclass
class _Output:
    """Files as they are produced, plus what the writers learned on the way."""

    files: list[DemoFile] = field(default_factory=list)
    image_cache: dict[int, bytes] = field(default_factory=dict)
    image_paths: dict[int, list[str]] = field(default_factory=dict)  # id(post) -> relpaths of its images
    anomalies: list[dict] = field(default_factory=list)
    repeated_records: Counter = field(default_factory=Counter)
    records: Counter = field(default_factory=Counter)
    written_paths: set[str] = field(default_factory=set)

    def add(self, fmt: str, relpath: str, data: bytes) -> None:
        """Append a file (a path already written is skipped: same content by construction)."""
        if relpath not in self.written_paths:
            self.written_paths.add(relpath)
            self.files.append(DemoFile(fmt, relpath, data))

    def anomaly(self, platform: str, relpath: str, location: str, kind: str, reason: str | None,
                scope: str | None, post_id: str | None, note: str) -> None:
        """Record a planted problem and what the pipeline should make of it."""
        self.anomalies.append({"platform": platform, "relpath": relpath, "location": location, "kind": kind,
                               "reason": reason, "scope": scope, "post_id": post_id, "note": note})


def _iso(ts: int) -> str:
    """X API time: ``2026-05-01T10:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _token(rng: random.Random, length: int = 40) -> str:
    """An opaque pagination token."""
    return "".join(rng.choice(BASE36) for _ in range(length))


def _entities(text: str, users_by_name: dict[str, _User]) -> dict:
    """v2 ``entities``: hashtags and mentions with code-point offsets, as the API gives them."""
    entities: dict[str, list] = {}
    hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in re.finditer(r"(?<![\w#])#(\w+)", text)]
    mentions = []
    for match in re.finditer(r"(?<![\w@])@(\w{1,15})", text):
        user = users_by_name.get(match.group(1).lower())
        mention = {"start": match.start(), "end": match.end(), "username": match.group(1)}
        if user is not None:
            mention["id"] = user.native_id
        mentions.append(mention)
    if hashtags:
        entities["hashtags"] = hashtags
    if mentions:
        entities["mentions"] = mentions
    return entities


def _media_key(post: _Post, position: int) -> str:
    """The v2 media key of a tweet's photo (its id follows the tweet's)."""
    return f"3_{int(post.native_id) - 1000 - position}"


def _tweet(post: _Post, users_by_name: dict[str, _User]) -> dict:
    """A v2 tweet object with the fields the search endpoint returns for our expansions."""
    text = post.text or ""
    tweet: dict = {
        "id": post.native_id,
        "text": text,
        "author_id": post.user.native_id,
        "created_at": _iso(post.ts),
        "lang": "und" if post.kind == "short" and post.score % 2 else ("es" if post.lang == "gl" else post.lang),
        "conversation_id": post.native_id,
        "edit_history_tweet_ids": [post.native_id],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "public_metrics": {"retweet_count": post.score // 4, "reply_count": post.score // 7,
                           "like_count": post.score, "quote_count": post.score // 20, "bookmark_count": 0,
                           "impression_count": post.score * 37 + 11},
    }
    entities = _entities(text, users_by_name) if post.defect != "oversized_text" else {}
    if entities:
        tweet["entities"] = entities
    if post.images:
        tweet["attachments"] = {"media_keys": [_media_key(post, i) for i in range(len(post.images))]}
    if post.point is not None:
        lat, lon = post.point
        if post.defect == "impossible_coordinates":
            lat = 123.0 + lat % 1
        tweet["geo"] = {"coordinates": {"type": "Point", "coordinates": [lon, lat]}, "place_id": post.city.place_id}
    elif post.place:
        tweet["geo"] = {"place_id": post.city.place_id}
    if post.repost_of is not None:
        tweet["referenced_tweets"] = [{"type": "retweeted", "id": post.repost_of.native_id}]
    return tweet


def _v2_user(user: _User) -> dict:
    """A v2 user object."""
    return {
        "id": user.native_id, "name": user.name, "username": user.username, "created_at": _iso(user.created_ts),
        "description": f"{user.topic} · {user.city.name}", "location": user.city.name, "protected": False,
        "verified": False, "profile_image_url": f"https://pbs.twimg.com/profile_images/{user.native_id}/p_normal.jpg",
        "public_metrics": {"followers_count": user.followers, "following_count": user.following,
                           "tweet_count": user.followers * 3 + 17, "listed_count": user.followers // 50},
    }


def _v2_place(city: City) -> dict:
    """A v2 place object (a city)."""
    return {"id": city.place_id, "full_name": city.full_name, "name": city.full_name.split(",")[0],
            "country": city.country, "country_code": city.country_code, "place_type": "city",
            "geo": {"type": "Feature", "bbox": list(city.bbox), "properties": {}}}


def _v2_page(tweets: list[_Post], users_by_name: dict[str, _User], next_token: str | None) -> dict:
    """A search response page: data, includes (users, media, places, retweeted tweets), meta."""
    users: dict[str, _User] = {}
    media, places, originals = [], {}, {}
    for post in tweets:
        users[post.user.native_id] = post.user
        for match in re.finditer(r"(?<![\w@])@(\w{1,15})", post.text or "" if post.defect != "oversized_text" else ""):
            mentioned = users_by_name.get(match.group(1).lower())
            if mentioned is not None:
                users[mentioned.native_id] = mentioned
        if post.repost_of is not None:
            originals[post.repost_of.native_id] = post.repost_of
            users[post.repost_of.user.native_id] = post.repost_of.user
        if post.place:
            places[post.city.place_id] = _v2_place(post.city)
        for position, image in enumerate(post.images):
            key = _media_key(post, position)
            media.append({"media_key": key, "type": "photo", "url": f"https://pbs.twimg.com/media/{key}.jpg",
                          "width": image.width, "height": image.height})
    includes: dict = {"users": [_v2_user(u) for u in users.values()]}
    if media:
        includes["media"] = media
    if places:
        includes["places"] = list(places.values())
    if originals:
        includes["tweets"] = [_tweet(p, users_by_name) for p in originals.values()]
    ids = [int(p.native_id) for p in tweets]
    meta = {"newest_id": str(max(ids)), "oldest_id": str(min(ids)), "result_count": len(tweets)}
    if next_token:
        meta["next_token"] = next_token
    return {"data": [_tweet(p, users_by_name) for p in tweets], "includes": includes, "meta": meta}


def _json_line(doc: object) -> bytes:
    """One JSONL line as twarc writes it (ASCII-escaped)."""
    return json.dumps(doc).encode("ascii") + b"\n"


def _write_twitter(rng: random.Random, plan: _Plan, out: _Output) -> None:
    """twitter/pages.jsonl (search pages, newest first) and twitter/media/*.jpg."""
    users_by_name = {u.username.lower(): u for u in plan.users}
    newest_first = [p for p in reversed(plan.posts) if p.defect != "oversized_text"]
    pages = [newest_first[i:i + PAGE_SIZE] for i in range(0, len(newest_first), PAGE_SIZE)]
    for k in range(1, min(4, len(pages))):  # pagination overlap: a tweet repeated on the next page
        pages[k].insert(0, pages[k - 1][-1])
        out.repeated_records["twitter"] += 1
    lines = [_json_line(_v2_page(page, users_by_name, _token(rng) if i < len(pages) - 1 else None))
             for i, page in enumerate(pages)]
    oversized = next(p for p in plan.posts if p.defect == "oversized_text")
    oversized_line = _json_line(_v2_page([oversized], users_by_name, None))
    lines.insert(len(lines) // 2, oversized_line)
    cut = len(lines) // 3
    truncated = lines[cut][: len(lines[cut]) // 2] + b"\n"
    lines.insert(cut, truncated)  # a crash mid-write, then the complete retry of the same page
    wrong = _json_line(_v1_search_response(rng, plan))
    lines.insert(len(lines) - 1, wrong)
    relpath = "twitter/pages.jsonl"
    out.add("twitter-v2", relpath, b"".join(lines))
    out.records["twitter"] += len(lines)
    out.anomaly("twitter", relpath, f"line {lines.index(truncated) + 1}", "truncated_json", "malformed_json", "record",
                None, "a page cut mid-line (writer crashed); the next line is the complete retry of the same page")
    out.anomaly("twitter", relpath, f"line {lines.index(wrong) + 1}", "wrong_shape", "wrong_shape", "record", None,
                "a v1.1 search response ({statuses, search_metadata}) in a v2 file")
    out.anomaly("twitter", relpath, f"line {lines.index(oversized_line) + 1}", "oversized_text", "field_too_large",
                "post", oversized.post_id, f"a page of one tweet whose text is {len(oversized.text or '')} characters")
    for post in plan.posts:
        paths = []
        for position, image in enumerate(post.images):
            path = f"twitter/media/{_media_key(post, position)}.jpg"
            out.add("media", path, _image_bytes(image, out.image_cache))
            paths.append(path)
            if image.corrupt:
                out.anomaly("twitter", path, "file", "corrupt_image", "corrupt_image", "media", post.post_id,
                            "a JPEG cut to a third of its bytes; the post is kept without the image")
        out.image_paths[id(post)] = paths
        if post.defect == "impossible_coordinates":
            needle = f'"id": "{post.native_id}", "text"'.encode()
            number = next(n for n, line in enumerate(lines, start=1) if needle in line)
            out.anomaly("twitter", relpath, f"line {number}", "impossible_coordinates", "impossible_coordinates",
                        "field", post.post_id, "geo point at lat 123; the post is kept without coordinates")


def _v1_search_response(rng: random.Random, plan: _Plan) -> dict:
    """A v1.1 search/tweets response: valid JSON, wrong shape for a v2 file."""
    user = plan.users[0]
    status_id = str(int(plan.posts[0].native_id) - 777)
    return {
        "statuses": [{"created_at": "Wed Apr 01 09:00:00 +0000 2026", "id": int(status_id), "id_str": status_id,
                      "full_text": "Bon dia Barcelona! Cafè i croissant abans de treballar",
                      "user": {"id": int(user.native_id), "id_str": user.native_id, "screen_name": user.username}}],
        "search_metadata": {"count": 1, "max_id_str": status_id, "query": "barcelona",
                            "next_results": f"?max_id={rng.randint(1, 9)}"},
    }


def _reddit_submission(post: _Post, dump: bool, image_url: str | None) -> dict:
    """A submission as the API (``dump`` False) or a Pushshift / Arctic Shift dump gives it."""
    sub = post.community or "Barcelona"
    created = float(post.ts)
    permalink = f"/r/{sub}/comments/{post.native_id}/{_slug(post.text or '')}/"
    data: dict = {
        "approved_at_utc": None, "subreddit": sub, "selftext": post.body, "author_fullname": post.user.fullname,
        "saved": False, "gilded": 0, "clicked": False, "title": post.text, "subreddit_name_prefixed": f"r/{sub}",
        "hidden": False, "pwls": 6, "downs": 0, "name": f"t3_{post.native_id}", "upvote_ratio": 0.96,
        "ups": post.score, "score": post.score, "edited": False, "is_self": image_url is None,
        "created": created, "domain": "i.redd.it" if image_url else f"self.{sub}", "over_18": False,
        "subreddit_id": f"t5_{_base36(sum(map(ord, sub)) * 7919)}", "id": post.native_id, "author": post.user.username,
        "num_comments": post.score // 5, "permalink": permalink,
        "url": image_url or f"https://www.reddit.com{permalink}", "subreddit_subscribers": 250_000 + len(sub) * 1000,
        "created_utc": created, "num_crossposts": 0, "is_video": False, "stickied": False, "locked": False,
        "spoiler": False, "link_flair_text": None,
        "thumbnail": f"https://b.thumbs.redditmedia.com/{post.native_id}.jpg" if image_url else "self",
    }
    if image_url:
        image = post.images[0]
        data.update(post_hint="image", url_overridden_by_dest=image_url, thumbnail_width=140, thumbnail_height=140,
                    preview={"images": [{"source": {"url": f"https://preview.redd.it/{post.native_id}.jpg?auto=webp",
                                                    "width": image.width, "height": image.height},
                                         "resolutions": [], "variants": {}, "id": post.native_id + "prv"}],
                             "enabled": True})
    if dump:
        del data["created"]
        data["created_utc"] = post.ts
        data["retrieved_on"] = post.ts + 86_400 * (1 + post.score % 30)
    return data


def _write_reddit(rng: random.Random, plan: _Plan, out: _Output) -> None:
    """Listing files per subreddit, the zstd NDJSON dump, and reddit/media/*.jpg."""
    image_url = {id(p): f"https://i.redd.it/{p.native_id}.jpg" for p in plan.posts if p.images}
    listed = [p for p in plan.posts if not p.in_dump]
    by_sub: dict[str, list[_Post]] = {}
    for post in listed:
        by_sub.setdefault(post.community or "Barcelona", []).append(post)
    for sub in sorted(by_sub):
        ranked = sorted(by_sub[sub], key=lambda p: (-p.score, p.native_id))
        chunks = [ranked[i:i + 100] for i in range(0, len(ranked), 100)]
        for k, chunk in enumerate(chunks):
            after = f"t3_{chunk[-1].native_id}" if k < len(chunks) - 1 else None
            listing = {"kind": "Listing", "data": {
                "after": after, "dist": len(chunk), "modhash": "", "geo_filter": "", "before": None,
                "children": [{"kind": "t3", "data": _reddit_submission(p, False, image_url.get(id(p)))}
                             for p in chunk]}}
            relpath = f"reddit/{sub}_top.json" if k == 0 else f"reddit/{sub}_top_{k + 1}.json"
            out.add("reddit", relpath, json.dumps(listing, ensure_ascii=False).encode("utf-8"))
            out.records["reddit"] += 1
    _write_reddit_dump(rng, plan, image_url, out)
    for post in plan.posts:
        if post.images:
            path = f"reddit/media/{post.native_id}.jpg"
            out.add("media", path, _image_bytes(post.images[0], out.image_cache))
            out.image_paths[id(post)] = [path]


def _write_reddit_dump(rng: random.Random, plan: _Plan, image_url: dict[int, str], out: _Output) -> None:
    """reddit/dump.ndjson.zst: older submissions, a few re-fetched listing posts, and three broken lines."""
    relpath = "reddit/dump.ndjson.zst"
    dumped = [p for p in plan.posts if p.in_dump]
    lines: list[bytes] = []
    for post in dumped:
        doc = _reddit_submission(post, True, image_url.get(id(post)))
        encoding = "cp1252" if post.defect == "non_utf8_text" else "utf-8"
        lines.append(json.dumps(doc, ensure_ascii=False).encode(encoding))
    refetched = [p for p in plan.posts if not p.in_dump and not p.defect][:6]
    for post in refetched:  # re-fetched later: same id, newer score
        doc = _reddit_submission(post, True, image_url.get(id(post)))
        doc["_meta"] = {"retrieved_2nd_on": post.ts + 40 * 86_400}
        lines.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        out.repeated_records["reddit"] += 1
    lost = _Post(platform="reddit", user=plan.users[0], ts=START + 3600, topic="beach", lang="en",
                 city=CITY_BY_NAME[HOME_CITY], text="Morning swim at Barceloneta, the water was perfect",
                 native_id=_base36(int("1k00000", 36) - rng.randint(10, 999)), community="Barcelona")
    whole = json.dumps(_reddit_submission(lost, True, None), ensure_ascii=False).encode("utf-8")
    truncated = whole[: int(len(whole) * 0.6)]
    lines.insert(len(lines) // 2, truncated)
    wrong = b'{"data": null, "error": "Timeout. Maybe slow down a bit"}'
    lines.insert(len(lines) - 2, wrong)
    out.anomaly("reddit", relpath, f"line {lines.index(truncated) + 1}", "truncated_json", "malformed_json", "record",
                None, "a submission cut at 60% of its bytes (its post is lost)")
    out.anomaly("reddit", relpath, f"line {lines.index(wrong) + 1}", "wrong_shape", "wrong_shape", "record", None,
                "an API error envelope appended to the dump")
    legacy = next((p for p in dumped if p.defect == "non_utf8_text"), None)
    if legacy is not None:
        number = next(n for n, line in enumerate(lines, start=1) if _is_cp1252(line))
        out.anomaly("reddit", relpath, f"line {number}", "non_utf8_text", None, None, legacy.post_id,
                    "a line encoded as cp1252, not UTF-8: detect the encoding and keep the post "
                    "(a strict UTF-8 parser quarantines it as malformed_json)")
    data = zstandard.ZstdCompressor(level=10).compress(b"\n".join(lines) + b"\n")
    out.add("reddit", relpath, data)
    out.records["reddit"] += len(lines)


def _is_cp1252(line: bytes) -> bool:
    """Whether ``line`` is not UTF-8 (our cp1252 line)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _stem(ts: int) -> str:
    """instaloader's default file name: ``{date_utc}_UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d_%H-%M-%S") + "_UTC"


def _xz(doc: object) -> bytes:
    """A structure as ``save_structure_to_file`` writes ``.json.xz`` (compact JSON, LZMA, no check)."""
    text = json.dumps(doc, separators=(",", ":"))
    return lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=1)


def _ig_profile(user: _User) -> dict:
    """A Profile node as ``Profile._asdict`` saves it."""
    return {
        "id": user.native_id, "username": user.username, "full_name": user.name,
        "biography": f"{user.topic} lover · {user.city.name}", "is_private": False, "is_verified": False,
        "edge_followed_by": {"count": user.followers}, "edge_follow": {"count": user.following},
        "profile_pic_url": f"https://scontent.cdninstagram.com/v/t51.2885-19/{user.native_id}_n.jpg",
        "external_url": None, "is_business_account": user.kind == "heavy", "business_category_name": None,
    }


def _ig_url(rng: random.Random, post: _Post, position: int) -> str:
    """A CDN display_url of the kind Instagram returns."""
    return (f"https://scontent-mad1-1.cdninstagram.com/v/t51.2885-15/{rng.getrandbits(40)}_{post.native_id}"
            f"_{position}_n.jpg?stp=dst-jpg_e35&_nc_ht=scontent-mad1-1.cdninstagram.com&oh={rng.getrandbits(64):016x}")


def _ig_node(rng: random.Random, post: _Post) -> dict:
    """A GraphQL Post node (GraphImage / GraphSidecar / GraphVideo) as instaloader saves it."""
    first = post.images[0]
    sidecar = len(post.images) > 1
    caption_edges = [{"node": {"text": post.text}}] if post.text is not None else []
    frequent = post.user.kind in ("heavy", "medium")
    node: dict = {
        "__typename": "GraphSidecar" if sidecar else ("GraphVideo" if post.video else "GraphImage"),
        "id": str(_media_id(post.native_id)),
        "shortcode": post.native_id,
        "dimensions": {"height": first.height, "width": first.width},
        "display_url": _ig_url(rng, post, 0),
        "edge_media_to_tagged_user": {"edges": []},
        "is_video": post.video,
        "accessibility_caption": None if post.video else (
            f"Photo by {post.user.name} on {datetime.fromtimestamp(post.ts, UTC):%B %d, %Y}. "
            f"May be an image of {post.topic}."),
        "edge_media_to_caption": {"edges": caption_edges},
        "edge_media_to_comment": {"count": post.score // 6},
        "comments_disabled": False,
        "taken_at_timestamp": post.ts,
        "edge_liked_by": {"count": post.score},
        "edge_media_preview_like": {"count": post.score},
        "owner": _ig_profile(post.user) if frequent else {"id": post.user.native_id, "username": post.user.username},
        "location": post.location,
        "thumbnail_src": _ig_url(rng, post, 9),
    }
    if post.video:
        node["video_view_count"] = post.score * 9
    if sidecar:
        node["edge_sidecar_to_children"] = {"edges": [
            {"node": {"__typename": "GraphImage", "id": str(_media_id(post.native_id) + i + 1),
                      "shortcode": f"{post.native_id[:-1]}{BASE36[i]}", "dimensions": {"height": im.height,
                                                                                      "width": im.width},
                      "display_url": _ig_url(rng, post, i + 1), "is_video": False,
                      "accessibility_caption": f"Photo {i + 1} of {len(post.images)}. May be an image of {im.topic}."}}
            for i, im in enumerate(post.images)]}
    return node


def _media_id(shortcode: str) -> int:
    """instaloader's ``Post.shortcode_to_mediaid``."""
    return int.from_bytes(b64decode(("A" * (12 - len(shortcode)) + shortcode).encode(), b"-_"), "big")


def _structure(node: dict, node_type: str) -> dict:
    """The instaloader envelope."""
    return {"node": node, "instaloader": {"version": "4.16", "node_type": node_type}}


def _write_instagram(rng: random.Random, plan: _Plan, out: _Output) -> None:
    """instagram/<target>/ folders: Post structures with their images, Profile and Hashtag structures."""
    for user in plan.users:
        if user.kind in ("heavy", "medium"):
            path = f"instagram/{user.username}/{user.username}_{user.native_id}.json.xz"
            out.add("instaloader", path, _xz(_structure(_ig_profile(user), "Profile")))
            out.records["instagram"] += 1
    hashtag = {"id": "17843820229023457", "name": "barcelona", "allow_following": True, "is_following": False,
               "is_top_media_only": False, "profile_pic_url": "https://scontent.cdninstagram.com/v/t51.2885-15/tag.jpg",
               "edge_hashtag_to_media": {"count": 91_000_000}}
    out.add("instaloader", "instagram/#barcelona/barcelona.json.xz", _xz(_structure(hashtag, "Hashtag")))
    out.records["instagram"] += 1
    for post in plan.posts:
        out.image_paths[id(post)] = _write_ig_post(rng, post, post.community or "#barcelona", out)
    repeats = [p for p in plan.posts if p.user.kind in ("heavy", "medium") and not p.defect][:2]
    for post in repeats:  # the same post downloaded again by a hashtag target
        if f"instagram/#barcelona/{_stem(post.ts)}.json.xz" not in out.written_paths:
            _write_ig_post(rng, post, "#barcelona", out)
            out.repeated_records["instagram"] += 1
    _write_broken_instagram(rng, plan, out)


def _write_ig_post(rng: random.Random, post: _Post, folder: str, out: _Output) -> list[str]:
    """One Post structure and its images in ``folder``; returns the image paths."""
    stem = f"instagram/{folder}/{_stem(post.ts)}"
    out.add("instaloader", f"{stem}.json.xz", _xz(_structure(_ig_node(random.Random(post.native_id), post), "Post")))
    out.records["instagram"] += 1
    paths = []
    for position, image in enumerate(post.images):
        path = f"{stem}_{position + 1}.jpg" if len(post.images) > 1 else f"{stem}.jpg"
        out.add("instaloader", path, _image_bytes(image, out.image_cache))
        paths.append(path)
        if image.corrupt:
            out.anomaly("instagram", path, "file", "corrupt_image", "corrupt_image", "media", post.post_id,
                        "a JPEG cut to a third of its bytes; the post is kept without the image")
    return paths


def _write_broken_instagram(rng: random.Random, plan: _Plan, out: _Output) -> None:
    """A structure whose JSON was cut, and a raw GraphQL response saved where a structure belongs."""
    for kind, folder, offset in (("truncated_json", "#barcelona", 17), ("wrong_shape", "#bcn", 29)):
        ts = START + offset
        post = _Post(platform="instagram", user=plan.users[-1], ts=ts, topic="food", lang="ca",
                     city=CITY_BY_NAME[HOME_CITY], text="Esmorzar de forquilla al Born #bcnfood",
                     native_id=_shortcode(((ts * 1000 - INSTAGRAM_EPOCH_MS) << 23) | rng.getrandbits(23)),
                     images=[_new_image(rng, "food")])
        node = _ig_node(rng, post)
        stem = f"instagram/{folder}/{_stem(ts)}"
        if kind == "truncated_json":
            text = json.dumps(_structure(node, "Post"), separators=(",", ":"))
            data = lzma.compress(text[: len(text) // 2].encode(), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE,
                                 preset=1)
            reason, note = "malformed_json", "the JSON inside the .xz ends half-way (its post is lost)"
        else:
            data = _xz({"data": {"shortcode_media": node}, "status": "ok"})
            reason, note = "wrong_shape", "a raw GraphQL response, not an instaloader structure (its post is lost)"
        out.add("instaloader", f"{stem}.json.xz", data)
        out.add("instaloader", f"{stem}.jpg", _image_bytes(post.images[0], out.image_cache))
        out.records["instagram"] += 1
        out.anomaly("instagram", f"{stem}.json.xz", f"{_stem(ts)}.json.xz", kind, reason, "record", None, note)


# ----------------------------------------------------------------------------- labels and expected facts


def _clean_posts(plans: dict[str, _Plan]) -> dict[str, list[_Post]]:
    """Posts without any planted defect, per platform."""
    return {platform: [p for p in plan.posts if p.defect is None] for platform, plan in plans.items()}


def _write_labels(rng: random.Random, plans: dict[str, _Plan], out: _Output) -> list[_Post]:
    """labels.csv: ``id,label`` (post_id, topic) for about 60% of the clean posts."""
    labelled = [p for posts in _clean_posts(plans).values() for p in posts if rng.random() < LABEL_SHARE]
    text = "id,label\n" + "".join(f"{p.post_id},{p.topic}\n" for p in labelled)
    out.add("labels", "labels.csv", text.encode("utf-8"))
    return labelled


def _truth(post: _Post, out: _Output) -> dict:
    """What a normalizer should find in one clean post."""
    text = post.text
    if post.platform == "reddit":
        text = f"{post.text}\n\n{post.body}" if post.body else post.text
    hashtags = [] if post.platform == "reddit" else list(dict.fromkeys(
        t.lower() for t in re.findall(r"(?<![\w#])#(\w+)", post.text or "")))
    mentions = [] if post.platform == "reddit" else list(dict.fromkeys(
        m.lower() for m in re.findall(r"(?<![\w@])@(\w(?:(?:\w|\.(?!\.))*\w)?)", post.text or "")))
    return {
        "platform": post.platform, "native_id": post.native_id, "author_id": post.user.author_id,
        "author_name": post.user.username, "created_at": _iso(post.ts), "text": text,
        "title": post.text if post.platform == "reddit" else None, "hashtags": hashtags, "mentions": mentions,
        "topic": post.topic, "lang": post.lang, "kind": post.kind, "city": post.city.name,
        "lat": post.point[0] if post.point else (post.location or {}).get("lat"),
        "lon": post.point[1] if post.point else (post.location or {}).get("lng"),
        "images": out.image_paths.get(id(post), []), "community": post.community,
        "repost_of": post.repost_of.post_id if post.repost_of else None,
        "copy_of": post.copy_of.post_id if post.copy_of else None,
    }


def _expected(n_posts: int, seed: int, plans: dict[str, _Plan], out: _Output,
              near_duplicates: list[tuple[_Post, _Post, str]], labelled: list[_Post]) -> dict:
    """The facts tests check an ingest against (see the module docstring)."""
    clean = _clean_posts(plans)
    defective: dict[str, dict[str, list[str]]] = {p: {} for p in PLATFORMS}
    for platform, plan in plans.items():
        for post in plan.posts:
            if post.defect:
                defective[platform].setdefault(post.defect, []).append(post.post_id)
    kept_kinds = {"impossible_coordinates", "corrupt_image", "non_utf8_text"}
    written = {p: clean[p] + [x for x in plans[p].posts if x.defect in kept_kinds] for p in PLATFORMS}
    malformed = {p: dict(Counter(a["kind"] for a in out.anomalies if a["platform"] == p)) for p in PLATFORMS}
    reasons = {p: dict(Counter(a["reason"] for a in out.anomalies if a["platform"] == p and a["reason"]))
               for p in PLATFORMS}
    heavy = Counter((p.platform, p.user.username, p.user.author_id) for posts in written.values() for p in posts)
    texts = {p: Counter(x.text for x in clean[p] if x.text) for p in PLATFORMS}
    return {
        "seed": seed,
        "n_posts": n_posts,
        "home_city": HOME_CITY,
        "topics": list(TOPICS),
        "generated": {p: len(plans[p].posts) for p in PLATFORMS},
        "posts": {p: len(clean[p]) for p in PLATFORMS},
        "written": {p: len(written[p]) for p in PLATFORMS},
        "post_ids": {p: sorted(x.post_id for x in clean[p]) for p in PLATFORMS},
        "defective_posts": defective,
        "malformed": malformed,
        "quarantine_reasons": reasons,
        "anomalies": out.anomalies,
        "records": dict(out.records),
        "repeated_records": {p: out.repeated_records[p] for p in PLATFORMS},
        "retweets": {x.post_id: x.repost_of.post_id for x in clean["twitter"] if x.repost_of},
        "duplicate_texts": {p: sum(n - 1 for n in texts[p].values()) for p in PLATFORMS},
        "planted_duplicate_texts": {p: sum(1 for x in clean[p] if x.copy_of) for p in PLATFORMS},
        "near_duplicate_images": [{"post_id": t.post_id, "of": s.post_id, "change": c} for t, s, c in near_duplicates],
        "heavy_posters": [{"platform": k[0], "username": k[1], "author_id": k[2], "posts": n}
                          for k, n in heavy.most_common() if n > 10],
        "languages": {p: dict(Counter(x.lang for x in clean[p])) for p in PLATFORMS},
        "topic_counts": {p: dict(Counter(x.topic for x in clean[p])) for p in PLATFORMS},
        "short_captions": {p: sum(x.kind == "short" for x in clean[p]) for p in PLATFORMS},
        "empty_captions": {p: sum(x.kind == "empty" for x in clean[p]) for p in PLATFORMS},
        "city_spam": {p: sorted(x.post_id for x in clean[p] if x.spam_city) for p in PLATFORMS},
        "geotagged": {
            "twitter_points": sum(x.point is not None for x in clean["twitter"]),
            "twitter_place_only": sum(x.place and x.point is None for x in clean["twitter"]),
            "twitter_points_by_city": dict(Counter(x.city.name for x in clean["twitter"] if x.point)),
            "instagram_points": sum(bool(x.location and "lat" in x.location) for x in clean["instagram"]),
        },
        "images": {p: sum(1 for f in out.files if f.relpath.startswith(p) and f.relpath.endswith(".jpg"))
                   for p in PLATFORMS},
        "labels": {"task": "topic", "relpath": "labels.csv", "count": len(labelled), "classes": list(TOPICS),
                   "by_label": dict(Counter(p.topic for p in labelled))},
        "ingest": [
            {"format": "twitter-v2", "paths": ["twitter/pages.jsonl"], "media_dirs": ["twitter/media"]},
            {"format": "reddit", "paths": ["reddit"], "media_dirs": ["reddit/media"]},
            {"format": "instaloader", "paths": ["instagram"], "media_dirs": []},
        ],
        "truth": {x.post_id: _truth(x, out) for p in PLATFORMS for x in clean[p]},
    }
