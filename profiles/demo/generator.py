"""Deterministic demo data for a UK homeware retailer: Segment messages, CSV exports, ground truth.

Everything comes from one ``random.Random(seed)`` and one seeded ``Faker``, so the same
``(customers, days, seed, now)`` always gives the same dataset. Contact details are safe to send
anywhere: emails use the reserved example.com/.org/.net domains, phone numbers come from Ofcom's
ranges reserved for drama (phonenumbers calls them possible; the 07700 900xxx mobiles not valid),
and web addresses use the reserved ``.example`` top-level domain.

Ground truth: ``truth[person_key]`` is a list whose first item is a summary,
``{"identifiers": {type: [clean values]}, "cohort": name}`` (plus ``"duplicate_identifiers"`` for a
person who also appears under a second, unconnected identity), followed by one reference per
record: ``{"source": name, "messageId": id}`` or ``{"file": name, "row": index}``. Identifier types
are those of ``IDENTIFIER_TYPES`` plus ``anonymous_id``. CSV trait names follow the Segment
reserved traits, with a dotted path into the ``address`` object (``trait:address.city``).
"""

from __future__ import annotations

import math
import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

WEB = "Web store"
APP = "Mobile app"
PAYMENTS = "Payments"
SUPPORT = "Support desk"
EMAIL = "Email engagement"
POS_FILE = "pos_transactions.csv"
CRM_FILE = "crm_contacts.csv"
CALLS_FILE = "call_centre_log.csv"
SOURCES: dict[str, str] = {
    WEB: "website",
    APP: "mobile_app",
    PAYMENTS: "payments",
    SUPPORT: "support",
    EMAIL: "server",
    "POS": "pos",
    "CRM": "crm",
    "Call centre": "call_center",
}
IDENTIFIER_TYPES = ("email", "phone", "loyalty_id", "user_id", "device_id", "crm_id")
CONSENT_PURPOSES = ("email_marketing", "sms", "advertising", "personalisation", "analytics")
JUNK_IDS = ("anonymous", "null", "test@example.com")
CURRENCY = "GBP"
SITE = "https://www.hearthandhome.example"

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_SESSION = 40 * _MINUTE  # sessions start at least this long before the end of a window
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UUID_CLEAR = ((1 << 128) - 1) ^ ((0xF000 << 64) | (0xC000 << 48))  # version and variant bits
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_GROWTH = 1.5  # activity density rises linearly to (1 + _GROWTH) times its first-day level
_WEB_HOURS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 5, 6, 6, 8, 8, 6, 6, 6, 7, 8, 10, 10, 9, 6, 3)
_STORE_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 8, 10, 10, 8, 8, 9, 10, 8, 5, 0, 0, 0, 0)


@dataclass
class DemoFile:
    """An offline export to import as CSV, with the mapping of its columns to CDP targets."""

    name: str
    source_kind: str
    columns: list[str]
    rows: list[dict[str, str]]
    mapping: dict[str, str]


@dataclass
class DemoDataset:
    """Messages per source, CSV files, and who is really who (format in the module docstring)."""

    sources: dict[str, str]
    messages: dict[str, list[dict[str, Any]]]
    files: list[DemoFile]
    truth: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class _Cohort:
    name: str
    weight: float
    web_sessions: float  # mean over 90 days
    app_sessions: float
    views: tuple[int, int]  # products viewed per session
    order_rate: float  # per session
    add_rate: float  # per session, adding to the cart without ordering
    store_visits: float  # mean over 90 days, for in-store shoppers
    open_rate: float  # per email campaign
    shape: str  # "growth", "decline" or "recent"


_COHORTS = (
    _Cohort("vip", 0.07, 7, 5, (1, 4), 0.5, 0.2, 4.0, 0.55, "growth"),
    _Cohort("regular", 0.30, 3.6, 3, (1, 4), 0.2, 0.25, 1.5, 0.35, "growth"),
    _Cohort("browser", 0.22, 5.5, 3.5, (3, 8), 0.0, 0.2, 0.0, 0.25, "growth"),
    _Cohort("occasional", 0.23, 1.6, 1.2, (1, 3), 0.28, 0.2, 0.8, 0.15, "growth"),
    _Cohort("lapsing", 0.12, 3.6, 3, (1, 4), 0.18, 0.25, 1.0, 0.45, "decline"),
    _Cohort("new", 0.06, 2.6, 2, (1, 5), 0.3, 0.3, 0.8, 0.5, "recent"),
)
_CATALOGUE = """
Kitchen|Enamel Casserole Dish 24cm|69.00
Kitchen|Chef's Knife 20cm|45.00
Kitchen|Copper Saucepan Set|129.00
Kitchen|Bamboo Chopping Board|18.00
Kitchen|Stand Mixer|249.00
Kitchen|Glass Storage Jars (Set of 3)|22.00
Tableware|Stoneware Dinner Plate|9.50
Tableware|Linen Napkins (Set of 4)|24.00
Tableware|Hand-blown Wine Glasses (Pair)|28.00
Tableware|Oak Serving Board|35.00
Tableware|Speckled Mug|8.00
Bedding|Egyptian Cotton Duvet Cover Double|85.00
Bedding|Linen Pillowcase Pair|32.00
Bedding|Wool Throw|65.00
Bedding|Duck Feather Pillow|29.00
Bedding|Waffle Bedspread|79.00
Bath|Turkish Cotton Bath Towel|22.00
Bath|Cotton Bath Mat|19.00
Bath|Waffle Bathrobe|55.00
Bath|Marble Soap Dish|14.00
Home Fragrance|Fig & Cedar Candle|28.00
Home Fragrance|Amber Reed Diffuser|32.00
Home Fragrance|Travel Candle Trio|20.00
Home Fragrance|Pillar Candles (Set of 3)|15.00
Lighting|Rattan Pendant Shade|75.00
Lighting|Brass Table Lamp|110.00
Lighting|Linen Lampshade|38.00
Lighting|Festoon Lights 10m|42.00
Furniture|Oak Side Table|180.00
Furniture|Velvet Footstool|95.00
Furniture|Rattan Armchair|295.00
Furniture|Walnut Wall Shelf|60.00
Garden|Large Terracotta Pot|24.00
Garden|Outdoor Seat Cushion|30.00
Garden|Zinc Watering Can|27.00
Garden|Bistro Table Set|199.00
Decor|Ceramic Bud Vase|34.00
Decor|Framed Botanical Print|48.00
Decor|Jute Rug 160x230|120.00
Decor|Round Wall Mirror|85.00
"""
_CITY_TABLE = """
London|E N SE SW W NW|28|London Covent Garden
Manchester|M|8|Manchester Arndale
Birmingham|B|8|Birmingham Bullring
Leeds|LS|6|Leeds Trinity
Glasgow|G|6|Glasgow Buchanan Street
Bristol|BS|5|Bristol Cabot Circus
Edinburgh|EH|5|Edinburgh Princes Street
Liverpool|L|5|
Sheffield|S|4|
Newcastle upon Tyne|NE|4|
Nottingham|NG|4|
Cardiff|CF|3|
Leicester|LE|3|
Brighton|BN|3|
Southampton|SO|2|
Oxford|OX|2|
Cambridge|CB|2|
York|YO|2|
Reading|RG|2|
Norwich|NR|2|
"""
_DEVICE_TABLE = """
Apple|iPhone15,2|iOS|17.5.1
Apple|iPhone14,5|iOS|17.4
Apple|iPhone13,2|iOS|16.7.8
samsung|SM-S911B|Android|14
Google|Pixel 8|Android|14
OnePlus|CPH2449|Android|13
"""


def _table(text: str) -> list[list[str]]:
    return [line.split("|") for line in text.strip().splitlines()]


# city, postcode areas, weight, our store there
_CITIES = [
    (city, areas.split(), int(weight), store) for city, areas, weight, store in _table(_CITY_TABLE)
]
_DEVICES = _table(_DEVICE_TABLE)  # manufacturer, model, os name, os version
_STORES = [store for *_, store in _CITIES if store]
_STREET_TYPES = [
    "Road",
    "Street",
    "Lane",
    "Avenue",
    "Close",
    "Drive",
    "Gardens",
    "Crescent",
    "Way",
    "Grove",
    "Terrace",
    "Place",
]
_ABBREVIATIONS = {"Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Drive": "Dr"}
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
# Ofcom's drama ranges besides 07700 900xxx: 0113 496 0xxx and the like.
_LANDLINE_PREFIXES = [
    *(f"+44{area}4960" for area in (113, 114, 115, 116, 117, 118, 121, 131, 141, 151, 161)),
    *("+441914980", "+442079460", "+442920180"),
]
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
_IP_PREFIXES = (2, 5, 31, 62, 77, 81, 82, 86, 90, 92, 109, 146, 176, 178, 212)
_TRAFFIC = (  # how web sessions arrive: (weight, utm campaign or None, referrer)
    (40, None, ""),
    (25, None, "https://www.google.com/"),
    (12, {"source": "google", "medium": "cpc", "name": "brand_search"}, "https://www.google.com/"),
    (10, {"source": "instagram", "medium": "social", "name": "spring_home"}, ""),
    (8, {"source": "facebook", "medium": "paid_social", "name": "retargeting"}, ""),
    (5, {"source": "pinterest", "medium": "social", "name": "inspiration"}, ""),
)
_TRAFFIC_WEIGHTS = [weight for weight, *_ in _TRAFFIC]
_CAMPAIGN_THEMES = [
    "The Linen Edit",
    "New In: Candles",
    "Kitchen Essentials",
    "Cosy Nights In",
    "Garden Refresh",
    "Hosting Season",
    "Bath Time",
    "Back in Stock",
    "Gifts Under £30",
    "Members' Early Access",
    "Lighting Ideas",
    "Bedroom Makeover",
    "The Tableware Shop",
]
_PROMOS = [
    "Weekend Sale: 20% off Lighting",
    "Last Chance: Sale Ends Tonight",
    "Friends & Family: 15% off",
    "Free Delivery Weekend",
]
_TICKETS = (
    ("delivery", "Where is my order?"),
    ("delivery", "Parcel marked delivered but not received"),
    ("returns", "How do I return an item?"),
    ("returns", "Refund not received"),
    ("product", "Item arrived damaged"),
    ("product", "Question about care instructions"),
    ("billing", "Charged twice for one order"),
    ("account", "Cannot reset my password"),
)
_CALL_REASONS = [
    "Delivery enquiry",
    "Return request",
    "Order change",
    "Complaint",
    "Product question",
    "Loyalty points",
    "Store opening hours",
]
_CANCELLED = "Subscription Cancelled"
_AGENTS = ("Priya S", "Tom H", "Aisha K", "Dan M", "Fiona R", "Marek W")
_POS_MAPPING = {
    "transaction_id": "event:property:order_id",
    "store": "event:property:store",
    "till": "event:property:till",
    "timestamp": "event:timestamp",
    "customer_email": "identifier:email",
    "customer_phone": "identifier:phone",
    "loyalty_card": "identifier:loyalty_id",
    "event": "event:name",
    "revenue": "event:property:revenue",
    "currency": "event:property:currency",
    "items": "event:property:item_count",
    "payment_method": "event:property:payment_method",
}
_CRM_MAPPING = {
    "crm_id": "identifier:crm_id",
    "first_name": "trait:firstName",
    "last_name": "trait:lastName",
    "email": "identifier:email",
    "phone": "identifier:phone",
    "address_line1": "trait:address.street",
    "city": "trait:address.city",
    "postcode": "trait:address.postalCode",
    "date_of_birth": "trait:birthday",
    "loyalty_number": "identifier:loyalty_id",
    "created_date": "trait:createdAt",
    "email_opt_in": "consent:email_marketing",
    "sms_opt_in": "consent:sms",
    "ads_opt_in": "consent:advertising",
}
_CALLS_MAPPING = {
    "call_id": "event:property:call_id",
    "caller_phone": "identifier:phone",
    "event": "event:name",
    "reason": "event:property:reason",
    "timestamp": "event:timestamp",
    "duration_seconds": "event:property:duration_seconds",
    "agent": "event:property:agent",
    "outcome": "event:property:outcome",
}
_FILE_SPECS = (  # name, source kind, column -> target
    (POS_FILE, "pos", _POS_MAPPING),
    (CRM_FILE, "crm", _CRM_MAPPING),
    (CALLS_FILE, "call_center", _CALLS_MAPPING),
)


@dataclass(frozen=True, slots=True)
class _Product:
    product_id: str
    sku: str
    name: str
    category: str
    price: float
    url: str

    def properties(self, quantity: int | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "price": self.price,
            "currency": CURRENCY,
            "url": self.url,
        }
        if quantity is not None:
            props["quantity"] = quantity
        return props


@dataclass(slots=True)
class _Browser:
    anonymous_id: str
    user_agent: str
    ip: str


@dataclass(slots=True)
class _Device:
    anonymous_id: str
    device_id: str
    model: list[str]  # manufacturer, model, os name, os version
    ip: str
    ad_tracking: bool


@dataclass(slots=True)
class _Account:
    """One appearance of a person: the names and identifiers one set of systems knows them by."""

    first_name: str
    last_name: str
    email: str
    phone: str | None
    user_id: str | None
    loyalty_id: str | None
    crm_id: str | None
    refs: list[dict[str, Any]]
    browsers: list[_Browser] = field(default_factory=list)
    device: _Device | None = None
    signup_at: int | None = None  # planned sign-up in the window; None: before it, or never
    registered: bool = True
    known: set[str] = field(default_factory=set)  # anonymousIds already tied to the userId
    identified: set[str] = field(default_factory=set)  # anonymousIds identified in the window
    used: dict[str, dict[str, None]] = field(default_factory=dict)

    def use(self, id_type: str, value: str | None) -> None:
        """Record a clean identifier as present in the data."""
        if value:
            self.used.setdefault(id_type, {})[value] = None


@dataclass(slots=True)
class _Person:
    key: str
    cohort: _Cohort
    birthday: str
    street: str
    city: str
    postcode: str
    store: str | None
    consent: dict[str, bool]
    main: _Account
    alt: _Account | None = None
    refs: list[dict[str, Any]] = field(default_factory=list)
    lo: int = 0  # this person's activity window, epoch milliseconds
    hi: int = 0
    flags: set[str] = field(default_factory=set)
    subscribed: bool = False
    orders: int = 0


@dataclass(slots=True)
class _Visit:
    start: int
    account: _Account
    client: _Browser | _Device  # a web browser, or the app on a phone
    campaign: dict[str, str] | None = None
    referrer: str = ""
    product: _Product | None = None
    abandon: bool = False


def generate(*, customers: int, days: int, seed: int, now: datetime) -> DemoDataset:
    """Generate a retail business's data for `customers` people over the last `days` days."""
    if customers < 0:
        raise ValueError("customers must not be negative")
    if days < 1:
        raise ValueError("days must be at least 1")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _Generator(customers=customers, days=days, seed=seed, now=now).run()


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _iso_seconds(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalpha())


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def _noisy_email(rng: random.Random, email: str) -> str:
    """The same address as a person or a till might type it."""
    local, _, domain = email.partition("@")
    titled = ".".join(part.capitalize() for part in local.split("."))
    style = rng.randrange(4)
    if style == 0:
        return f"  {titled}@{domain.capitalize()} "
    if style == 1:
        return email.upper()
    if style == 2:
        return f"{titled}@{domain}"
    return f" {email}"


def _phone_variant(rng: random.Random, e164: str) -> str:
    """The same UK number in one of the formats people and systems write."""
    national = "0" + e164[3:]
    head, mid, tail = national[1:5], national[5:8], national[8:]
    return rng.choice(
        (
            e164,
            f"+44 {head} {mid}{tail}",
            national,
            f"0{head} {mid}{tail}",
            f"(0){head}-{mid}-{tail}",
            f"+44 (0){head}-{mid}-{tail}",
            f"44{national[1:]}",
            f"0044 {head} {mid}{tail}",
        )
    )


def _typo(rng: random.Random, text: str) -> str:
    """A plausible one-keystroke slip, never in the first letter and never a no-op."""
    for _ in range(5):
        if len(text) < 4:
            break
        i = rng.randrange(1, len(text) - 1)
        op = rng.randrange(3)
        if op == 0:
            typo = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif op == 1:
            typo = text[:i] + text[i + 1 :]
        else:
            typo = text[:i] + text[i] + text[i:]
        if typo != text:
            return typo
    return text + text[-1]


def _street_noise(rng: random.Random, street: str) -> str:
    words = street.split(" ")
    if words[-1] in _ABBREVIATIONS and rng.random() < 0.5:
        return " ".join([*words[:-1], _ABBREVIATIONS[words[-1]]])
    if rng.random() < 0.5:
        return street.lower()
    words[-2] = _typo(rng, words[-2])
    return " ".join(words)


def _server_context(email: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"library": {"name": "analytics-python", "version": "2.3.2"}}
    if email:
        context["traits"] = {"email": email}
    return context


def _catalogue() -> list[_Product]:
    products = []
    for index, (category, name, price) in enumerate(_table(_CATALOGUE), start=1):
        slug = "-".join("".join(c for c in word if c.isalnum()) for word in name.lower().split())
        sku = f"HH-{category[:3].upper()}-{index:03d}"
        products.append(
            _Product(f"P{1000 + index}", sku, name, category, float(price), f"{SITE}/p/{slug}")
        )
    return products


class _Generator:
    def __init__(self, *, customers: int, days: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.customers = customers
        self.scale = days / 90
        self.now = (now - _EPOCH) // timedelta(milliseconds=1)
        self.start = self.now - days * _DAY
        self.today = now.astimezone(UTC).date()
        self.messages: dict[str, list[dict[str, Any]]] = {name: [] for name in SOURCES}
        self.rows: dict[str, list[tuple[str, dict[str, str], _Account]]] = {
            name: [] for name, *_ in _FILE_SPECS
        }
        self.taken: set[str] = set(JUNK_IDS)
        self.serial = 100_000
        self.products = _catalogue()
        self.popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(self.products))]
        self.rng.shuffle(self.popularity)
        self.phones = self._phone_pool()
        self.campaigns = self._campaigns()

    def run(self) -> DemoDataset:
        """Make the people, then their activity, then assemble the dataset."""
        rng = self.rng
        people = [self._person(index) for index in range(self.customers)]
        if len(people) >= 10:
            for person in rng.sample(people, max(1, round(len(people) * 0.03))):
                self._add_duplicate(person)
            for person in rng.sample(people, max(1, round(len(people) * 0.01))):
                person.flags.add("junk")
        for person in people:
            self._activity(person)
        for person in people:
            if person.main.crm_id or not (person.refs or person.flags & {"pos", "called"}):
                self._crm_row(person, person.main)
            if person.alt:
                self._crm_row(person, person.alt)
        for messages in self.messages.values():
            messages.sort(key=lambda message: message["timestamp"])
        return DemoDataset(
            sources=dict(SOURCES),
            messages=self.messages,
            files=self._files(),
            truth={person.key: self._truth(person) for person in people},
        )

    # Identifiers

    def _phone_pool(self) -> list[str]:
        mobiles = [f"+447700900{n:03d}" for n in range(1000)]
        landlines = [f"{prefix}{n:03d}" for prefix in _LANDLINE_PREFIXES for n in range(1000)]
        self.rng.shuffle(mobiles)
        self.rng.shuffle(landlines)
        return landlines + mobiles  # popped from the end: mobiles first

    def _unique(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self.taken:
            value = make()
        self.taken.add(value)
        return value

    def _user_id(self) -> str:
        return self._unique(lambda: f"usr_{self.rng.getrandbits(40):010x}")

    def _crm_id(self) -> str:
        return self._unique(lambda: f"CRM-{self.rng.randrange(10**6):06d}")

    def _email(self, first: str, last: str, year: int) -> str:
        f, surname = _ascii(first) or "x", _ascii(last) or "x"
        local = self.rng.choice(
            (
                f"{f}.{surname}",
                f"{f}{surname}",
                f"{f[0]}{surname}",
                f"{f}.{surname}{year % 100:02d}",
                f"{f}_{surname}",
                f"{surname}.{f}",
                f"{f}{year}",
            )
        )
        domain = self.rng.choice(_EMAIL_DOMAINS)
        email, n = f"{local}@{domain}", 1
        while email in self.taken:
            n += 1
            email = f"{local}{n}@{domain}"
        self.taken.add(email)
        return email

    def _uuid(self) -> str:
        h = "%032x" % (self.rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET)
        return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))

    def _ip(self) -> str:
        octets = self.rng.getrandbits(24)
        return (
            f"{self.rng.choice(_IP_PREFIXES)}.{octets >> 16}.{(octets >> 8) & 255}.{octets & 255}"
        )

    def _next_serial(self) -> int:
        self.serial += 1 + int(self.rng.random() * 7)
        return self.serial

    # People

    def _person(self, index: int) -> _Person:
        rng, fake = self.rng, self.fake
        cohort = rng.choices(_COHORTS, weights=[c.weight for c in _COHORTS])[0]
        city, areas, _, store = rng.choices(_CITIES, weights=[c[2] for c in _CITIES])[0]
        letters = "".join(rng.choices(_POSTCODE_LETTERS, k=2))
        postcode = f"{rng.choice(areas)}{rng.randint(1, 20)} {rng.randint(1, 9)}{letters}"
        street = f"{rng.randint(1, 180)} {fake.last_name()} {rng.choice(_STREET_TYPES)}"
        if rng.random() < 0.1:
            street = f"Flat {rng.randint(1, 24)}, {street}"
        age_days = int(365.25 * rng.triangular(18, 80, 38)) + rng.randrange(365)
        birthday = self.today - timedelta(days=age_days)
        first, last = fake.first_name(), fake.last_name()
        has_account = rng.random() < (0.65 if cohort.name == "browser" else 0.82)
        in_store = rng.random() < {"vip": 0.6, "browser": 0.0}.get(cohort.name, 0.35)
        loyalty = rng.random() < (0.6 if in_store else 0.1)
        phone = self.phones.pop() if self.phones and rng.random() < 0.7 else None
        account = _Account(
            first_name=first,
            last_name=last,
            email=self._email(first, last, birthday.year),
            phone=phone,
            user_id=self._user_id() if has_account else None,
            loyalty_id=self._unique(lambda: f"LC{rng.randrange(10**8):08d}") if loyalty else None,
            crm_id=None,
            refs=[],
        )
        consent = {
            "email_marketing": rng.random() < 0.68,
            "sms": phone is not None and rng.random() < 0.35,
            "advertising": rng.random() < 0.5,
            "personalisation": rng.random() < 0.62,
            "analytics": rng.random() < 0.78,
        }
        person = _Person(
            f"person-{index + 1:05d}",
            cohort,
            birthday.isoformat(),
            street,
            city,
            postcode,
            store or None,
            consent,
            account,
        )
        account.refs = person.refs
        if loyalty or rng.random() < 0.5:
            account.crm_id = self._crm_id()
        chances = {
            "in_store": 1.0 if in_store else 0.0,
            "web": 0.9 if in_store else 1.0,
            "app": 0.55 if cohort.name == "vip" else 0.3,
            "support": 0.12 if has_account else 0.0,
            "call": 0.08 if phone else 0.0,
            "subscriber": (0.3 if cohort.name == "vip" else 0.05) if has_account else 0.0,
            "trade": 0.03 if has_account else 0.0,
            "abandon": 0.0 if cohort.shape == "decline" else 0.05,
        }
        for flag, chance in chances.items():
            if rng.random() < chance:
                person.flags.add(flag)
        return person

    def _add_duplicate(self, person: _Person) -> None:
        """A second appearance sharing no identifier: other email, typo'd name, same postcode."""
        rng, main = self.rng, person.main
        main.crm_id = main.crm_id or self._crm_id()  # both appearances are in the CRM
        first = _typo(rng, main.first_name) if rng.random() < 0.7 else main.first_name[0]
        last = _typo(rng, main.last_name) if rng.random() < 0.5 else main.last_name
        email = self._email(first, last, int(person.birthday[:4]))
        alt = _Account(first, last, email, None, None, None, self._crm_id(), person.refs)
        if rng.random() < 0.5:
            alt.user_id = self._user_id()
        person.alt = alt

    # Activity

    def _activity(self, person: _Person) -> None:
        rng, cohort, main = self.rng, person.cohort, person.main
        lo, hi = self.start + _MINUTE, self.now - _MINUTE
        if cohort.shape == "recent":
            lo = max(lo, self.now - int((self.now - self.start) * rng.uniform(0.08, 0.25)))
        abandon_at = None
        if "abandon" in person.flags and person.flags & {"web", "app"}:
            abandon_at = self.now - rng.randint(_HOUR, 22 * _HOUR)
            hi = max(lo + _MINUTE, min(hi, abandon_at - _HOUR))
        person.lo, person.hi = lo, hi
        visits = self._plan_visits(person, main, abandon_at)
        if main.user_id and visits and (cohort.shape == "recent" or rng.random() < 0.12):
            main.signup_at = rng.choice(sorted(visit.start for visit in visits)[:3])
            main.registered = False
        elif main.user_id:
            main.known.update(browser.anonymous_id for browser in main.browsers[:1])
            if main.device:
                main.known.add(main.device.anonymous_id)
        visits += self._email_engagement(person)
        if person.alt and person.alt.user_id:
            visits += self._plan_alt_visits(person, person.alt)
        for visit in sorted(visits, key=lambda visit: visit.start):
            _Session(self, person, visit).run()
        if "in_store" in person.flags:
            for _ in range(_poisson(rng, cohort.store_visits * self.scale)):
                self._store_visit(person)
        if "support" in person.flags and main.registered:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                self._ticket(person)
        if "call" in person.flags and main.phone:
            for _ in range(rng.choice((1, 1, 2))):
                self._call(person, main.phone)

    def _plan_visits(self, person: _Person, acct: _Account, abandon_at: int | None) -> list[_Visit]:
        rng, cohort = self.rng, person.cohort
        visits: list[_Visit] = []
        if "web" in person.flags:
            second = acct.user_id is not None and rng.random() < 0.3  # a laptop and a phone
            acct.browsers = [self._browser() for _ in range(1 + second)]
            share = 0.75 if "app" in person.flags else 1.0
            for _ in range(max(1, _poisson(rng, cohort.web_sessions * share * self.scale))):
                browser = acct.browsers[0] if rng.random() < 0.8 else acct.browsers[-1]
                _, campaign, referrer = rng.choices(_TRAFFIC, weights=_TRAFFIC_WEIGHTS)[0]
                start = self._sample(person.lo, person.hi - _SESSION, cohort.shape, _WEB_HOURS)
                visits.append(_Visit(start, acct, browser, dict(campaign or {}) or None, referrer))
        if "app" in person.flags:
            model = rng.choice(_DEVICES)
            ios = model[2] == "iOS"
            device_id = self._uuid().upper() if ios else f"{rng.getrandbits(64):016x}"
            ads = person.consent["advertising"]
            acct.device = device = _Device(self._uuid(), device_id, model, self._ip(), ads)
            for _ in range(max(1, _poisson(rng, cohort.app_sessions * self.scale))):
                start = self._sample(person.lo, person.hi - _SESSION, cohort.shape, _WEB_HOURS)
                visits.append(_Visit(start, acct, device))
        client = acct.browsers[0] if acct.browsers else acct.device
        if abandon_at is not None and client is not None:
            visits.append(_Visit(abandon_at, acct, client, abandon=True))
        return visits

    def _plan_alt_visits(self, person: _Person, alt: _Account) -> list[_Visit]:
        alt.browsers = [self._browser()]
        alt.registered = False
        starts = sorted(
            self._sample(person.lo, person.hi - _SESSION, "growth", _WEB_HOURS)
            for _ in range(self.rng.randint(1, 3))
        )
        alt.signup_at = starts[0]
        return [_Visit(start, alt, alt.browsers[0]) for start in starts]

    def _browser(self) -> _Browser:
        return _Browser(self._uuid(), self.rng.choice(_USER_AGENTS), self._ip())

    def _sample(self, lo: int, hi: int, shape: str, hours: tuple[int, ...]) -> int:
        """A time in [lo, hi], denser recently (or early, if declining), weighted by hour of day."""
        rng, span, top = self.rng, max(hi - lo, 0), max(hours)
        while True:
            u = rng.random()
            if shape == "decline":
                x = 1 - (1 - u) ** (1 / 3)
            else:
                x = (math.sqrt(1 + 2 * _GROWTH * u * (1 + _GROWTH / 2)) - 1) / _GROWTH
            at = lo + int(x * span)
            if span < _DAY or rng.random() * top < hours[(at // _HOUR) % 24]:
                return at

    def _send(
        self,
        acct: _Account,
        source: str,
        kind: str,
        at: int,
        ids: tuple[str | None, str | None],
        context: dict[str, Any],
        **body: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"messageId": self._uuid(), "type": kind, "timestamp": _iso(at)}
        uid, anon = ids
        if uid:
            message["userId"] = uid
            if uid not in JUNK_IDS:
                acct.use("user_id", uid)
        if anon:
            message["anonymousId"] = anon
            acct.use("anonymous_id", anon)
        message["context"] = context
        message.update(body)
        self.messages[source].append(message)
        acct.refs.append({"source": source, "messageId": message["messageId"]})
        return message

    def _track(
        self,
        acct: _Account,
        source: str,
        at: int,
        ids: tuple[str | None, str | None],
        context: dict[str, Any],
        event: str,
        properties: dict[str, Any],
    ) -> dict[str, Any]:
        return self._send(
            acct, source, "track", at, ids, context, event=event, properties=properties
        )

    def _email_engagement(self, person: _Person) -> list[_Visit]:
        """Opens and clicks of the campaigns sent while subscribed; returns click-through visits."""
        acct, rng = person.main, self.rng
        if not (acct.user_id and person.consent["email_marketing"]):
            return []
        since = acct.signup_at if acct.signup_at is not None else self.start
        ids, email = (acct.user_id, None), acct.email
        visits = []
        for sent, campaign_id, name in self.campaigns:
            if not since <= sent <= person.hi:
                continue
            rate = person.cohort.open_rate
            if person.cohort.shape == "decline":
                rate *= (1 - (sent - self.start) / (self.now - self.start)) ** 1.5
            opened = sent + int(min(rng.expovariate(1 / (4 * _HOUR)), 72 * _HOUR))
            if rng.random() >= rate or opened > person.hi:
                continue
            acct.use("email", email)
            props = {"campaign_id": campaign_id, "campaign_name": name, "email_subject": name}
            context = _server_context(email)
            self._track(acct, EMAIL, opened, ids, context, "Email Opened", props)
            if rng.random() < (0.016 if person.cohort.shape == "decline" else 0.004):
                at = opened + rng.randint(_MINUTE, 5 * _MINUTE)
                props = dict(props)
                context = _server_context(email)
                self._track(acct, EMAIL, at, ids, context, "Email Unsubscribed", props)
                context = _server_context(email)
                preferences = {**person.consent, "email_marketing": False}
                context["consent"] = {"categoryPreferences": preferences}
                self._send(
                    acct, EMAIL, "identify", at + 1000, ids, context, traits={"email": email}
                )
                break
            if rng.random() < 0.3:
                product = rng.choices(self.products, weights=self.popularity)[0]
                clicked = opened + rng.randint(5_000, 10 * _MINUTE)
                props = {**props, "link_url": product.url}
                context = _server_context(email)
                self._track(acct, EMAIL, clicked, ids, context, "Email Clicked", props)
                if acct.browsers and rng.random() < 0.6 and clicked < person.hi - _SESSION:
                    utm = {"source": "newsletter", "medium": "email", "name": campaign_id}
                    browser = acct.browsers[0]
                    visits.append(_Visit(clicked + 20_000, acct, browser, utm, "", product))
        return visits

    def _campaigns(self) -> list[tuple[int, str, str]]:
        """A weekly newsletter and a fortnightly promotion, sent at 09:00 UTC."""
        first_morning = (self.start // _DAY + 1) * _DAY + 9 * _HOUR
        campaigns = []
        for day in range((self.now - self.start) // _DAY):
            sent = first_morning + day * _DAY
            if sent > self.now - 2 * _HOUR:
                break
            if day % 7 == 1:
                name = _CAMPAIGN_THEMES[(day // 7) % len(_CAMPAIGN_THEMES)]
            elif day % 14 == 5:
                name = _PROMOS[(day // 14) % len(_PROMOS)]
            else:
                continue
            campaign_id = f"cmp_{time.strftime('%Y%m%d', time.gmtime(sent // 1000))}"
            campaigns.append((sent, campaign_id, name))
        return campaigns

    def _basket(self, person: _Person, preferred: list[_Product]) -> list[tuple[_Product, int]]:
        rng = self.rng
        size = rng.randint(2, 5) if person.cohort.name == "vip" else rng.choice((1, 1, 1, 2, 2, 3))
        picks = preferred[:size]
        picks += rng.choices(self.products, weights=self.popularity, k=size - len(picks))
        basket: dict[str, tuple[_Product, int]] = {}
        for product in picks:
            _, quantity = basket.get(product.sku, (product, 0))
            basket[product.sku] = (product, quantity + (2 if rng.random() < 0.15 else 1))
        return list(basket.values())

    # Offline records

    def _store_visit(self, person: _Person) -> None:
        rng, acct = self.rng, person.main
        at = self._sample(person.lo, person.hi, person.cohort.shape, _STORE_HOURS)
        basket = self._basket(person, [])
        revenue = _money(sum(product.price * quantity for product, quantity in basket))
        email = phone = loyalty = ""
        if acct.loyalty_id and rng.random() < 0.75:
            loyalty = acct.loyalty_id
        if rng.random() < 0.4:  # asked for an e-receipt
            email = _noisy_email(rng, acct.email) if rng.random() < 0.15 else acct.email
        if not (email or loyalty) and acct.phone and rng.random() < 0.7:
            phone = _phone_variant(rng, acct.phone)
        if not (email or loyalty or phone):
            email = acct.email
        if "junk" in person.flags and "junk_pos" not in person.flags and (phone or loyalty):
            person.flags.add("junk_pos")
            email = "test@example.com"  # typed by a cashier to get past the e-receipt prompt
        acct.use("email", acct.email if email and email != "test@example.com" else None)
        acct.use("phone", phone and acct.phone)
        acct.use("loyalty_id", loyalty)
        store = person.store if person.store and rng.random() < 0.85 else rng.choice(_STORES)
        row = {
            "transaction_id": f"T{_STORES.index(store) + 1:02d}-{self._next_serial()}",
            "store": store,
            "till": str(rng.randint(1, 6)),
            "timestamp": _iso_seconds(at),
            "customer_email": email,
            "customer_phone": phone,
            "loyalty_card": loyalty,
            "event": "Order Completed",
            "revenue": f"{revenue:.2f}",
            "currency": CURRENCY,
            "items": str(sum(quantity for _, quantity in basket)),
            "payment_method": rng.choice(("card", "card", "contactless", "contactless", "cash")),
        }
        person.flags.add("pos")
        person.orders += 1
        self.rows[POS_FILE].append((row["timestamp"], row, acct))

    def _ticket(self, person: _Person) -> None:
        rng, acct = self.rng, person.main
        lo = max(person.lo, acct.signup_at or 0)  # the desk knows account holders only
        opened = self._sample(lo, person.hi, person.cohort.shape, _WEB_HOURS)
        category, subject = rng.choice(_TICKETS)
        email = _noisy_email(rng, acct.email) if rng.random() < 0.1 else acct.email
        acct.use("email", acct.email)
        ids = (acct.user_id, None)
        props: dict[str, Any] = {
            "ticket_id": f"TCK-{self._next_serial()}",
            "category": category,
            "subject": subject,
            "channel": rng.choice(("email", "chat", "chat", "web_form")),
            "priority": rng.choice(("low", "normal", "normal", "high")),
        }
        context = _server_context(email)
        self._track(acct, SUPPORT, opened, ids, context, "Ticket Opened", props)
        hours = rng.uniform(0.3, 96)
        resolved = opened + int(hours * _HOUR)
        if resolved <= self.now:
            props = {"ticket_id": props["ticket_id"], "category": category}
            props["resolution_hours"] = round(hours, 1)
            if rng.random() < 0.6:
                props["satisfaction_score"] = rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 5))[0]
            context = _server_context(email)
            self._track(acct, SUPPORT, resolved, ids, context, "Ticket Resolved", props)

    def _call(self, person: _Person, phone: str) -> None:
        rng, acct = self.rng, person.main
        at = self._sample(person.lo, person.hi, person.cohort.shape, _STORE_HOURS)
        row = {
            "call_id": f"C{self._next_serial()}",
            "caller_phone": _phone_variant(rng, phone),
            "event": "Call Received",
            "reason": rng.choice(_CALL_REASONS),
            "timestamp": _iso_seconds(at),
            "duration_seconds": str(int(rng.lognormvariate(5.3, 0.6))),
            "agent": rng.choice(_AGENTS),
            "outcome": rng.choice(("resolved", "resolved", "resolved", "escalated", "callback")),
        }
        acct.use("phone", phone)
        person.flags.add("called")
        self.rows[CALLS_FILE].append((row["timestamp"], row, acct))

    def _crm_row(self, person: _Person, acct: _Account) -> None:
        rng = self.rng
        acct.crm_id = acct.crm_id or self._crm_id()
        first, last = acct.first_name, acct.last_name
        if rng.random() < 0.05:
            first = _typo(rng, first)
        if rng.random() < 0.05:
            last = _typo(rng, last) if rng.random() < 0.5 else last.upper()
        street = _street_noise(rng, person.street) if rng.random() < 0.12 else person.street
        postcode = person.postcode.replace(" ", "").lower() if rng.random() < 0.08 else None
        email = _noisy_email(rng, acct.email) if rng.random() < 0.1 else acct.email
        phone = _phone_variant(rng, acct.phone) if acct.phone and rng.random() < 0.9 else ""
        if acct is person.main:
            created = self.start - rng.randint(0, 3 * 365) * _DAY
        else:
            created = rng.randint(self.start, self.now)

        def opt_in(purpose: str) -> str:
            roll = rng.random()
            if roll < 0.05:
                return ""
            return "yes" if person.consent[purpose] != (roll > 0.92) else "no"  # some are stale

        row = {
            "crm_id": acct.crm_id,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "address_line1": street,
            "city": person.city,
            "postcode": postcode or person.postcode,
            "date_of_birth": person.birthday,
            "loyalty_number": acct.loyalty_id or "",
            "created_date": time.strftime("%Y-%m-%d", time.gmtime(created // 1000)),
            "email_opt_in": opt_in("email_marketing"),
            "sms_opt_in": opt_in("sms"),
            "ads_opt_in": opt_in("advertising"),
        }
        acct.use("crm_id", acct.crm_id)
        acct.use("email", acct.email)
        acct.use("phone", phone and acct.phone)
        acct.use("loyalty_id", acct.loyalty_id)
        self.rows[CRM_FILE].append((acct.crm_id, row, acct))

    # Assembly

    def _files(self) -> list[DemoFile]:
        files = []
        for name, kind, mapping in _FILE_SPECS:
            entries = sorted(self.rows[name], key=lambda entry: entry[0])
            for index, (_, _, acct) in enumerate(entries):
                acct.refs.append({"file": name, "row": index})
            rows = [row for _, row, _ in entries]
            files.append(DemoFile(name, kind, list(mapping), rows, dict(mapping)))
        return files

    def _truth(self, person: _Person) -> list[dict[str, Any]]:
        identifiers: dict[str, list[str]] = {}
        for acct in (person.main, person.alt):
            for id_type, values in acct.used.items() if acct else ():
                identifiers.setdefault(id_type, []).extend(values)
        summary: dict[str, Any] = {"identifiers": identifiers, "cohort": person.cohort.name}
        if person.alt:
            summary["duplicate_identifiers"] = {k: list(v) for k, v in person.alt.used.items()}
        return [summary, *person.refs]


class _Session:
    """One web or app visit: the clock, the identity in use and the page or screen context."""

    def __init__(self, gen: _Generator, person: _Person, visit: _Visit) -> None:
        self.gen, self.rng, self.person, self.visit = gen, gen.rng, person, visit
        self.acct = acct = visit.account
        client = visit.client
        self.web = client if isinstance(client, _Browser) else None
        self.source = WEB if self.web else APP
        self.anon = client.anonymous_id
        if isinstance(client, _Device):
            acct.use("device_id", client.device_id)
        self.at = visit.start
        self.path = "/"
        self.uid = acct.user_id if acct.registered and self.anon in acct.known else None

    def run(self) -> None:
        rng, person, cohort, acct = self.rng, self.person, self.person.cohort, self.acct
        self.land()
        views = [self.visit.product] if self.visit.product else []
        views += rng.choices(self.gen.products, self.gen.popularity, k=rng.randint(*cohort.views))
        identify_after = rng.randrange(len(views))
        for index, product in enumerate(views):
            self.view_product(product)
            if index == identify_after:
                self.maybe_identify()
        main = acct is person.main
        buys = main and not self.visit.abandon and rng.random() < cohort.order_rate
        buys = buys and bool(self.web or acct.user_id)  # the app needs an account to check out
        if buys or self.visit.abandon or rng.random() < cohort.add_rate:
            cart = self.add_to_cart(views)
            if buys:
                self.checkout(cart)
            elif self.visit.abandon and rng.random() < 0.4:
                self.begin_checkout(cart)
        if main and self.web and "junk" in person.flags and "junk_sent" not in person.flags:
            self.junk()
        if not (main and self.uid):
            return
        if "subscriber" in person.flags and not person.subscribed and rng.random() < 0.35:
            self.start_subscription()
        if "trade" in person.flags and "grouped" not in person.flags:
            self.group()

    def tick(self, low: int = 4_000, high: int = 60_000) -> int:
        self.at = min(self.at + low + int(self.rng.random() * (high - low)), self.gen.now)
        return self.at

    def context(self) -> dict[str, Any]:
        client = self.visit.client
        if isinstance(client, _Browser):
            page = {"path": self.path, "url": SITE + self.path, "referrer": self.visit.referrer}
            context: dict[str, Any] = {
                "ip": client.ip,
                "userAgent": client.user_agent,
                "locale": "en-GB",
                "library": {"name": "analytics.js", "version": "next-1.70.0"},
                "page": page,
            }
            if self.visit.campaign:
                context["campaign"] = dict(self.visit.campaign)
            return context
        manufacturer, model, os_name, os_version = client.model
        ios = os_name == "iOS"
        device = {
            "id": client.device_id,
            "manufacturer": manufacturer,
            "model": model,
            "type": "ios" if ios else "android",
            "adTrackingEnabled": client.ad_tracking,
        }
        library = "analytics-ios" if ios else "analytics-android"
        return {
            "ip": client.ip,
            "locale": "en-GB",
            "timezone": "Europe/London",
            "library": {"name": library, "version": "4.1.8" if ios else "4.11.3"},
            "app": {"name": "Hearth & Home", "version": "5.3.0", "build": "530"},
            "device": device,
            "os": {"name": os_name, "version": os_version},
        }

    def send(
        self, kind: str, consent: dict[str, bool] | None = None, **body: Any
    ) -> dict[str, Any]:
        context = self.context()
        if consent is not None:
            context["consent"] = {"categoryPreferences": consent}
        ids = (self.uid, self.anon)
        return self.gen._send(self.acct, self.source, kind, self.tick(), ids, context, **body)

    def track(self, event: str, properties: dict[str, Any]) -> dict[str, Any]:
        return self.send("track", event=event, properties=properties)

    def screen(self, name: str, path: str, title: str, **properties: Any) -> None:
        self.path = path
        if self.web:
            props = {"path": path, "url": SITE + path, "title": title, **properties}
            self.send("page", name=name, properties=props)
        else:
            self.send("screen", name=name, properties=properties)

    def land(self) -> None:
        if not self.visit.product:
            if self.rng.random() < 0.5:
                self.screen("Home", "/", "Hearth & Home | Homeware & Interiors")
            else:
                category = self.rng.choice(self.gen.products).category
                slug = category.lower().replace(" ", "-")
                title = f"{category} | Hearth & Home"
                self.screen("Category", f"/c/{slug}", title, category=category)
        if not self.web and "app_seen" not in self.person.flags:
            self.person.flags.add("app_seen")
            if self.rng.random() < 0.6:  # the app's first-launch consent prompt
                self.send("identify", traits={}, consent=dict(self.person.consent))

    def view_product(self, product: _Product) -> None:
        path = product.url.removeprefix(SITE)
        self.screen("Product", path, f"{product.name} | Hearth & Home", sku=product.sku)
        self.track("Product Viewed", product.properties())

    def maybe_identify(self) -> None:
        """Re-identify when logged in, sign up when due, or sometimes log in on this device."""
        acct = self.acct
        if not acct.user_id:
            return
        if self.uid:
            if self.anon not in acct.identified:
                acct.identified.add(self.anon)
                self.send("identify", traits=self.traits(full=False))
        elif not acct.registered and acct.signup_at is not None and self.at >= acct.signup_at:
            self.signup()
        elif acct.registered and self.rng.random() < 0.5:
            self.login()

    def traits(self, full: bool, created: bool = True) -> dict[str, Any]:
        acct, person, rng = self.acct, self.person, self.rng
        email = _noisy_email(rng, acct.email) if rng.random() < 0.08 else acct.email
        acct.use("email", acct.email)
        first = _typo(rng, acct.first_name) if rng.random() < 0.03 else acct.first_name
        traits: dict[str, Any] = {"email": email, "firstName": first, "lastName": acct.last_name}
        if not full:
            return traits
        alt = acct is not person.main  # always gives what a fuzzy match needs
        if acct.phone and rng.random() < 0.6:
            traits["phone"] = _phone_variant(rng, acct.phone)
            acct.use("phone", acct.phone)
        if alt or rng.random() < 0.6:
            traits["birthday"] = person.birthday
        if alt or rng.random() < 0.5:
            traits["address"] = {
                "street": person.street,
                "city": person.city,
                "postalCode": person.postcode,
                "country": "United Kingdom",
            }
        if created:
            traits["createdAt"] = _iso(self.at)
        return traits

    def _tie(self) -> None:
        self.uid = self.acct.user_id
        self.acct.known.add(self.anon)
        self.acct.identified.add(self.anon)

    def signup(self) -> None:
        self.acct.registered = True
        self._tie()
        self.screen("Sign Up", "/account/register", "Create an account | Hearth & Home")
        self.send("identify", traits=self.traits(full=True), consent=dict(self.person.consent))
        if self.web and self.rng.random() < 0.2:
            self.send("alias", previousId=self.anon)

    def login(self) -> None:
        self._tie()
        self.screen("Sign In", "/account/login", "Sign in | Hearth & Home")
        self.send("identify", traits=self.traits(full=False))

    def add_to_cart(self, viewed: list[_Product]) -> list[tuple[_Product, int]]:
        cart = self.gen._basket(self.person, viewed)
        cart_id = self.gen._uuid()[:13]
        for product, quantity in cart:
            self.track("Product Added", {**product.properties(quantity), "cart_id": cart_id})
        self.screen("Basket", "/basket", "Your basket | Hearth & Home")
        products = [product.properties(quantity) for product, quantity in cart]
        self.track("Cart Viewed", {"cart_id": cart_id, "products": products})
        return cart

    def begin_checkout(self, cart: list[tuple[_Product, int]]) -> dict[str, Any]:
        acct = self.acct
        if acct.user_id and not self.uid:
            if acct.registered:
                self.login()
            else:
                self.signup()
        elif not acct.user_id and self.web:
            self.screen("Checkout", "/checkout/guest", "Guest checkout | Hearth & Home")
            self.send("identify", traits=self.traits(full=True, created=False))
        self.screen("Checkout", "/checkout", "Checkout | Hearth & Home")
        subtotal = _money(sum(product.price * quantity for product, quantity in cart))
        order = {
            "order_id": f"{'WEB' if self.web else 'APP'}-{self.gen._next_serial()}",
            "value": subtotal,
            "revenue": subtotal,
            "currency": CURRENCY,
            "products": [product.properties(quantity) for product, quantity in cart],
        }
        self.track("Checkout Started", order)
        return dict(order)

    def checkout(self, cart: list[tuple[_Product, int]]) -> None:
        rng, person, acct = self.rng, self.person, self.acct
        order = self.begin_checkout(cart)
        subtotal = order.pop("value")
        discount, coupon = 0.0, ""
        if person.orders == 0 and person.cohort.shape == "recent" and rng.random() < 0.6:
            discount, coupon = _money(subtotal * 0.1), "WELCOME10"
        elif rng.random() < 0.12:
            discount, coupon = _money(subtotal * 0.2), "SALE20"
        revenue = _money(subtotal - discount)
        shipping = 0.0 if revenue >= 50 else 3.95
        total = _money(revenue + shipping)
        method = rng.choice(("card", "card", "card", "apple_pay", "paypal"))
        payment = {"order_id": order["order_id"], "amount": total, "currency": CURRENCY}
        payment["payment_method"] = method
        ids = (self.uid, self.anon)
        if rng.random() < 0.07:
            reason = rng.choice(("card_declined", "insufficient_funds", "authentication_failed"))
            props = {**payment, "reason": reason}
            context = _server_context(acct.email)
            self.gen._track(
                acct, PAYMENTS, self.tick(2_000, 6_000), ids, context, "Payment Failed", props
            )
            if rng.random() < 0.3:
                return
            self.tick(30_000, 120_000)
        context = _server_context(acct.email)
        self.gen._track(
            acct, PAYMENTS, self.tick(2_000, 6_000), ids, context, "Payment Succeeded", payment
        )
        order.update(revenue=revenue, total=total, shipping=shipping, discount=discount)
        order["tax"] = _money(total / 6)  # prices include 20% VAT
        if coupon:
            order["coupon"] = coupon
        message = self.track("Order Completed", order)
        if not self.uid:
            message["context"]["traits"] = {"email": acct.email}
        acct.use("email", acct.email)
        person.orders += 1
        self.screen("Order Confirmation", "/checkout/confirmation", "Thank you | Hearth & Home")

    def start_subscription(self) -> None:
        rng, person, gen = self.rng, self.person, self.gen
        monthly = rng.random() < 0.7
        price = 5.99 if monthly else 49.0
        sub = {
            "subscription_id": f"sub_{gen._uuid()[:8]}",
            "plan": "Delivery Pass",
            "billing_period": "monthly" if monthly else "annual",
            "price": price,
            "currency": CURRENCY,
        }
        person.subscribed = True
        self.screen("Delivery Pass", "/delivery-pass", "Delivery Pass | Hearth & Home")
        self.track("Subscription Started", dict(sub))
        cancel_at = self.at + rng.randint(10, 75) * _DAY if rng.random() < 0.3 else gen.now
        if cancel_at <= person.hi:
            props = {**sub, "reason": rng.choice(("too_expensive", "not_ordering_enough", "other"))}
            ids = (self.uid, self.anon)
            gen._track(self.acct, self.source, cancel_at, ids, self.context(), _CANCELLED, props)
        billing = (self.uid, None)
        renewal = self.at + 30 * _DAY
        while monthly and renewal < cancel_at:
            payment = {"subscription_id": sub["subscription_id"], "amount": price}
            payment.update(currency=CURRENCY, payment_method="card")
            context = _server_context()
            gen._track(self.acct, PAYMENTS, renewal, billing, context, "Payment Succeeded", payment)
            renewal += 30 * _DAY

    def group(self) -> None:
        rng = self.rng
        self.person.flags.add("grouped")
        traits = {
            "name": self.gen.fake.company(),
            "plan": "Trade",
            "industry": rng.choice(("Interior Design", "Hospitality", "Property", "Retail")),
            "employees": rng.choice((1, 3, 8, 25, 60)),
        }
        self.send("group", groupId=f"acct_{rng.getrandbits(32):08x}", traits=traits)

    def junk(self) -> None:
        """Tracking bugs seen in real data: a stringified empty userId, a QA test email."""
        self.person.flags.add("junk_sent")
        uid = self.uid
        self.uid = self.rng.choice(("anonymous", "null"))
        self.track("Product Viewed", self.rng.choice(self.gen.products).properties())
        self.uid = None
        self.send("identify", traits={"email": "test@example.com"})
        self.uid = uid
