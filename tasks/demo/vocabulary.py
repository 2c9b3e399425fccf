"""The words demo posts are made of: topics, languages, templates and phrases, hashtags, emoji, names."""

from __future__ import annotations

TOPICS = ("food", "beach", "football", "architecture", "nightlife", "nature")
MAIN_LANGS = ("en", "es", "ca")
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
