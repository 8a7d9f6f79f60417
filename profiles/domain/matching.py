"""Probabilistic record linkage: Fellegi-Sunter with weights estimated by EM. Pure (no ORM).

A record is one profile's name, email addresses, phone numbers, date of birth and address.
1. Blocking: records that share a blocking key (postcode; date of birth and initials; the
   Soundex codes of both names and the birth year; email local part; phone) become candidate
   pairs. Chance pairs number about n²/2K for a key with K common values (K is about half a
   million for date of birth and initials), so up to a few million profiles the pairs stay close
   to the true ones and grow about linearly; keys held by more than `max_block_size` records
   (junk such as 1900-01-01) are skipped.
2. Comparison: each field of a pair falls into a level (exact, Jaro-Winkler or Levenshtein
   thresholds via rapidfuzz, different), or is missing when either side has no value.
3. Model: for each field and level, m = P(level | same person) and u = P(level | different
   people); a level's weight is log2(m / u) bits, and missing fields weigh nothing. u comes from
   the data itself: exact agreement from value frequencies, the other levels from random pairs.
   The prior (the chance that two random records are one person) and the m probabilities are
   estimated by expectation-maximisation over the candidate pairs, treating pairs that share no
   blocking key as non-matches. Weak pseudo-counts towards sensible defaults keep tiny data sets
   (a test, a new install) well-behaved; on real volumes the data dominates.
A pair's match probability is 1 / (1 + 2^-W), W the prior's log-odds plus the field weights, and
`explain` lists every field's values, level and weight. Everything is deterministic for a seed.
"""

from __future__ import annotations

import math
import random
import re
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

MAX_BLOCK_SIZE = 250
U_SAMPLE_PAIRS = 60_000  # random pairs per field for the u probabilities
MAX_ITERATIONS = 60
TOLERANCE = 1e-6
DUPLICATE_RATE = 0.05  # prior guess: one record in twenty has a twin (weight: PRIOR_PSEUDO_MATCHES)
PRIOR_PSEUDO_MATCHES = 2.0
M_PSEUDO_PAIRS = 10.0
U_PSEUDO_PAIRS = 50.0
MAX_VALUES = 5  # emails or phones per record compared


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One profile as the matcher sees it (values as stored; `prepare` normalises them)."""

    key: int
    first_name: str = ""
    last_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()  # E.164
    birth_date: str = ""  # YYYY-MM-DD
    postcode: str = ""
    street: str = ""
    city: str = ""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record's normalised values, compared and blocked on."""

    first_name: str
    last_name: str
    emails: tuple[str, ...]
    locals: tuple[str, ...]  # email local parts without dots or plus-tags
    phones: tuple[str, ...]
    birth_date: str
    postcode: str
    street: str
    city: str


# --- Normalisation --------------------------------------------------------------------------------

_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_UK_INWARD = re.compile(r"\d[A-Z]{2}$")
_STREET_WORDS = {
    "rd": "road",
    "st": "street",
    "str": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "cl": "close",
    "cres": "crescent",
    "cr": "crescent",
    "gdns": "gardens",
    "gr": "grove",
    "pl": "place",
    "sq": "square",
    "ter": "terrace",
    "terr": "terrace",
    "ct": "court",
    "blvd": "boulevard",
}


def fold(text: str) -> str:
    """Lower-case ASCII: accents removed ("Zoë" -> "zoe")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def name_key(text: str) -> str:
    """A name as letters only: "O'Brien-Smith" -> "obriensmith"."""
    return _NOT_LETTER.sub("", fold(text or ""))


def postcode_key(text: str) -> str:
    """A postcode in capitals without spaces: "sw1a 1aa" -> "SW1A1AA"."""
    return _NOT_ALNUM.sub("", fold(text or "")).upper()


def street_key(text: str) -> str:
    """A street line lower-cased, punctuation dropped, the street type spelled out."""
    words = _NOT_ALNUM.sub(" ", fold(text or "")).split()
    named = [i for i, word in enumerate(words) if not word.isdigit()]
    if named and words[named[-1]] in _STREET_WORDS:
        words[named[-1]] = _STREET_WORDS[words[named[-1]]]
    return " ".join(words)


def city_key(text: str) -> str:
    return " ".join(_NOT_ALNUM.sub(" ", fold(text or "")).split())


def date_key(text: str) -> str:
    """An ISO date (YYYY-MM-DD, or the date part of a timestamp, or DD/MM/YYYY); else ""."""
    text = (text or "").strip()
    if found := _DATE.match(text):
        year, month, day = found.groups()
    elif found := _DMY.match(text):
        day, month, year = found.groups()
    else:
        return ""
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return ""
    return f"{year}-{int(month):02d}-{int(day):02d}"


def email_local(email: str) -> str:
    local = email.partition("@")[0].partition("+")[0]
    return local.replace(".", "").replace("_", "").replace("-", "")


def prepare(record: MatchRecord) -> Prepared:
    """The normalised values of `record`."""
    emails = tuple(dict.fromkeys(e.strip().lower() for e in record.emails if e and "@" in e))
    emails = emails[:MAX_VALUES]
    phones = tuple(dict.fromkeys(p.strip() for p in record.phones if p and p.strip()))
    return Prepared(
        first_name=name_key(record.first_name),
        last_name=name_key(record.last_name),
        emails=emails,
        locals=tuple(dict.fromkeys(email_local(e) for e in emails if email_local(e))),
        phones=phones[:MAX_VALUES],
        birth_date=date_key(record.birth_date),
        postcode=postcode_key(record.postcode),
        street=street_key(record.street),
        city=city_key(record.city),
    )


_SOUNDEX_CODES = {
    char: str(digit)
    for digit, group in enumerate(("bfpv", "cgjkqsxz", "dt", "l", "mn", "r"), 1)
    for char in group
}


def soundex(text: str) -> str:
    """American Soundex of a name ("Robert" and "Rupert" -> "R163"); "" for no letters."""
    letters = name_key(text)
    if not letters:
        return ""
    out, previous = letters[0].upper(), _SOUNDEX_CODES.get(letters[0], "")
    for char in letters[1:]:
        code = _SOUNDEX_CODES.get(char, "")
        if code and code != previous:
            out += code
        if char not in "hw":  # h and w do not separate two equal codes
            previous = code
    return (out + "000")[:4]


# --- Comparisons ----------------------------------------------------------------------------------


def _first_name(a: str, b: str) -> int:
    if a == b:
        return 0
    if len(a) == 1 or len(b) == 1:
        return 3 if a[0] == b[0] else 4
    similarity = JaroWinkler.similarity(a, b)
    return 1 if similarity >= 0.92 else 2 if similarity >= 0.8 else 4


def _last_name(a: str, b: str) -> int:
    if a == b:
        return 0
    similarity = JaroWinkler.similarity(a, b)
    return 1 if similarity >= 0.92 else 2 if similarity >= 0.8 else 3


def _emails(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if set(a) & set(b):
        return 0
    close = any(Levenshtein.distance(x, y, score_cutoff=2) <= 2 for x in a for y in b)
    return 1 if close else 2


def _phones(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if set(a) & set(b):
        return 0
    close = any(
        len(x) == len(y) and Levenshtein.distance(x, y, score_cutoff=1) <= 1 for x in a for y in b
    )
    return 1 if close else 2


def _birth_date(a: str, b: str) -> int:
    if a == b:
        return 0
    swapped = a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]
    if swapped or Levenshtein.distance(a, b, score_cutoff=1) <= 1:
        return 1
    return 2 if a[:4] == b[:4] else 3


def _outward(postcode: str) -> str:
    if len(postcode) >= 5 and _UK_INWARD.search(postcode):
        return postcode[:-3]
    return postcode[:3]


def _postcode(a: str, b: str) -> int:
    if a == b:
        return 0
    if Levenshtein.distance(a, b, score_cutoff=1) <= 1:
        return 1
    return 2 if _outward(a) == _outward(b) else 3


def _numbers(street: str) -> set[str]:
    return {word for word in street.split() if word.isdigit()}


def _street(a: str, b: str) -> int:
    if a == b:
        return 0
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    same_numbers = numbers_a <= numbers_b or numbers_b <= numbers_a
    if same_numbers and fuzz.token_sort_ratio(a, b) >= 85:
        return 1
    name_a = " ".join(word for word in a.split() if not word.isdigit())
    name_b = " ".join(word for word in b.split() if not word.isdigit())
    if name_a and name_b and fuzz.ratio(name_a, name_b) >= 85:
        return 2
    return 3


def _city(a: str, b: str) -> int:
    if a == b:
        return 0
    return 1 if JaroWinkler.similarity(a, b) >= 0.9 else 2


@dataclass(frozen=True, slots=True)
class Comparison:
    """How one field of two records is compared: its levels (best first) and default m and u."""

    field: str
    label: str
    levels: tuple[str, ...]
    m0: tuple[float, ...]  # defaults the EM estimates start from and are weakly pulled to
    u0: tuple[float, ...]
    level_of: Callable[[Any, Any], int]  # two present values -> level index
    single_value: bool = True  # exact agreement's u is computable from value frequencies

    def value(self, prepared: Prepared) -> Any:
        return getattr(prepared, self.field)

    def compare(self, a: Prepared, b: Prepared) -> int | None:
        """The level of two records on this field; None when either lacks it."""
        x, y = getattr(a, self.field), getattr(b, self.field)
        return self.level_of(x, y) if x and y else None


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "first_name",
        "First name",
        ("exact", "Jaro-Winkler ≥ 0.92", "Jaro-Winkler ≥ 0.8", "initial", "different"),
        (0.85, 0.06, 0.03, 0.03, 0.03),
        (0.005, 0.004, 0.02, 0.01, 0.961),
        _first_name,
    ),
    Comparison(
        "last_name",
        "Last name",
        ("exact", "Jaro-Winkler ≥ 0.92", "Jaro-Winkler ≥ 0.8", "different"),
        (0.88, 0.06, 0.03, 0.03),
        (0.003, 0.003, 0.02, 0.974),
        _last_name,
    ),
    Comparison(
        "emails",
        "Email",
        ("exact", "Levenshtein ≤ 2", "different"),
        (0.6, 0.1, 0.3),
        (0.0001, 0.0002, 0.9997),
        _emails,
        single_value=False,
    ),
    Comparison(
        "phones",
        "Phone",
        ("exact", "one digit different", "different"),
        (0.8, 0.05, 0.15),
        (0.0001, 0.001, 0.9989),
        _phones,
        single_value=False,
    ),
    Comparison(
        "birth_date",
        "Date of birth",
        ("exact", "one digit off or day/month swapped", "same year", "different"),
        (0.9, 0.04, 0.02, 0.04),
        (0.0002, 0.003, 0.015, 0.9818),
        _birth_date,
    ),
    Comparison(
        "postcode",
        "Postcode",
        ("exact", "one character different", "same outward code", "different"),
        (0.85, 0.03, 0.05, 0.07),
        (0.0001, 0.0005, 0.005, 0.9944),
        _postcode,
    ),
    Comparison(
        "street",
        "Street",
        ("exact", "similar", "same street, other number", "different"),
        (0.8, 0.1, 0.02, 0.08),
        (0.0001, 0.0005, 0.002, 0.9974),
        _street,
    ),
    Comparison(
        "city",
        "City",
        ("exact", "similar", "different"),
        (0.9, 0.03, 0.07),
        (0.05, 0.005, 0.945),
        _city,
    ),
)
FIELDS = tuple(c.field for c in COMPARISONS)

Gamma = tuple[int | None, ...]  # one level per comparison, None where a value is missing


def compare(a: Prepared, b: Prepared) -> Gamma:
    """The comparison vector of two prepared records."""
    return tuple(c.compare(a, b) for c in COMPARISONS)


# --- Blocking -------------------------------------------------------------------------------------


def _keys(p: Prepared) -> Iterable[str]:
    if p.postcode:
        yield f"pc:{p.postcode}"
    if p.birth_date and p.first_name and p.last_name:
        yield f"dob:{p.birth_date}:{p.first_name[0]}{p.last_name[0]}"
    if p.birth_date and p.first_name and p.last_name:
        yield f"sx:{soundex(p.first_name)}:{soundex(p.last_name)}:{p.birth_date[:4]}"
    for local in p.locals:
        if len(local) >= 4:
            yield f"em:{local}"
    for phone in p.phones:
        yield f"ph:{phone}"


BLOCKING_RULES = (
    "postcode",
    "date of birth + initials",
    "Soundex(first name) + Soundex(last name) + birth year",
    "email local part",
    "phone",
)


@dataclass
class Blocking:
    pairs: list[tuple[int, int]]  # indices into the records, i < j, sorted
    blocks: int = 0
    skipped_blocks: int = 0  # keys held by more than max_block_size records
    skipped_records: int = 0


def candidate_pairs(prepared: Sequence[Prepared], max_block_size: int = MAX_BLOCK_SIZE) -> Blocking:
    """Pairs of records sharing at least one blocking key, each pair once."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, p in enumerate(prepared):
        for key in dict.fromkeys(_keys(p)):
            blocks[key].append(index)
    result = Blocking(pairs=[])
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2:
            continue
        if len(members) > max_block_size:
            result.skipped_blocks += 1
            result.skipped_records += len(members)
            continue
        result.blocks += 1
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                seen.add((i, j))
    result.pairs = sorted(seen)
    return result


# --- The model ------------------------------------------------------------------------------------


@dataclass
class Model:
    """Fellegi-Sunter parameters: the prior and, per field, m and u for each level."""

    prior: float
    m: dict[str, tuple[float, ...]]
    u: dict[str, tuple[float, ...]]
    iterations: int = 0
    converged: bool = False

    @classmethod
    def default(cls, records: int = 2) -> Model:
        return cls(
            prior=_default_prior(records),
            m={c.field: c.m0 for c in COMPARISONS},
            u={c.field: c.u0 for c in COMPARISONS},
        )

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def weight(self, field_name: str, level: int | None) -> float:
        """Bits of evidence of one field's level: log2(m / u); 0 when missing."""
        if level is None:
            return 0.0
        return math.log2(self.m[field_name][level] / self.u[field_name][level])

    def match_weight(self, gamma: Gamma) -> float:
        return self.prior_weight + sum(
            self.weight(c.field, level) for c, level in zip(COMPARISONS, gamma, strict=True)
        )

    def probability(self, gamma: Gamma) -> float:
        return probability(self.match_weight(gamma))

    def as_dict(self) -> dict:
        """The parameters and the weights they give, as JSON-ready data."""
        return {
            "prior": self.prior,
            "prior_weight": round(self.prior_weight, 3),
            "iterations": self.iterations,
            "converged": self.converged,
            "fields": {
                c.field: [
                    {
                        "level": name,
                        "m": round(self.m[c.field][i], 6),
                        "u": round(self.u[c.field][i], 8),
                        "weight": round(self.weight(c.field, i), 3),
                    }
                    for i, name in enumerate(c.levels)
                ]
                for c in COMPARISONS
            },
        }


def probability(weight: float) -> float:
    """Match probability from a match weight in bits."""
    if weight < -1000:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-weight)) if weight > -60 else 2.0**weight


def _default_prior(records: int) -> float:
    return min(0.5, max(1e-12, 2 * DUPLICATE_RATE / max(records - 1, 1)))


def _smooth(counts: Sequence[float], total: float, defaults: Sequence[float], weight: float):
    values = [(c + weight * d) / (total + weight) for c, d in zip(counts, defaults, strict=True)]
    norm = sum(values)
    return tuple(max(v / norm, 1e-12) for v in values)


def estimate_u(
    prepared: Sequence[Prepared], *, rng: random.Random, sample_pairs: int = U_SAMPLE_PAIRS
) -> dict[str, tuple[float, ...]]:
    """u per field and level: P(level | two different people), from the records themselves.

    Exact agreement comes from value frequencies (all pairs, no sampling error); the other levels
    from random pairs of records that both have the field. Two random records are almost never
    the same person, so random pairs stand for non-matches.
    """
    u: dict[str, tuple[float, ...]] = {}
    for comparison in COMPARISONS:
        values = [v for p in prepared if (v := comparison.value(p))]
        n = len(values)
        if n < 2:
            u[comparison.field] = comparison.u0
            continue
        level_of = comparison.level_of
        counts: list[float] = [0.0] * len(comparison.levels)
        if n * (n - 1) // 2 <= sample_pairs:
            for i in range(n):
                for j in range(i + 1, n):
                    counts[level_of(values[i], values[j])] += 1
        else:
            draw = rng.random
            for _ in range(sample_pairs):
                i, j = int(draw() * n), int(draw() * (n - 1))  # faster than randrange
                counts[level_of(values[i], values[j + (j >= i)])] += 1
        total = sum(counts)
        if comparison.single_value:
            # Exact agreement from value frequencies; the sample shares out the rest.
            frequencies = Counter(values)
            exact = sum(c * (c - 1) for c in frequencies.values()) / (n * (n - 1))
            rest = total - counts[0]
            if rest:
                counts = [exact * total] + [(1 - exact) * total * c / rest for c in counts[1:]]
        u[comparison.field] = _smooth(counts, total, comparison.u0, U_PSEUDO_PAIRS)
    return u


def train(
    gammas: Iterable[Gamma],
    *,
    records: int,
    u: dict[str, tuple[float, ...]],
    max_iterations: int = MAX_ITERATIONS,
) -> Model:
    """Estimate the prior and m by EM over the candidate pairs' comparison vectors (u fixed).

    Pairs outside the candidates count as non-matches: the prior is the expected number of
    matches among the candidates over all n(n-1)/2 pairs of records.
    """
    model = Model.default(records)
    model.u = dict(u)
    patterns = Counter(gammas)
    all_pairs = max(records * (records - 1) / 2, 1.0)
    prior0 = model.prior
    for iteration in range(1, max_iterations + 1):
        matched = 0.0
        numerators = {c.field: [0.0] * len(c.levels) for c in COMPARISONS}
        for gamma, count in patterns.items():
            p = model.probability(gamma) * count
            matched += p
            for c, level in zip(COMPARISONS, gamma, strict=True):
                if level is not None:
                    numerators[c.field][level] += p
        new_m = {
            c.field: _smooth(numerators[c.field], sum(numerators[c.field]), c.m0, M_PSEUDO_PAIRS)
            for c in COMPARISONS
        }
        new_prior = (matched + PRIOR_PSEUDO_MATCHES) / (all_pairs + PRIOR_PSEUDO_MATCHES / prior0)
        change = max(abs(x - y) for f in FIELDS for x, y in zip(new_m[f], model.m[f], strict=True))
        prior_change = abs(new_prior / model.prior - 1)
        model.m, model.prior, model.iterations = new_m, min(new_prior, 0.5), iteration
        if change < TOLERANCE and prior_change < 1e-4:
            model.converged = True
            break
    return model


# --- Scoring and explanations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredPair:
    key_a: int  # the smaller key
    key_b: int
    probability: float
    weight: float  # match weight in bits
    gamma: Gamma


@dataclass(frozen=True, slots=True)
class Evidence:
    """One field of a pair: both values, the level they fall in and its weight in bits."""

    field: str
    label: str
    a: str
    b: str
    level: str
    weight: float

    def as_dict(self) -> dict:
        return {
            "field": self.field,
            "label": self.label,
            "a": self.a,
            "b": self.b,
            "level": self.level,
            "weight": round(self.weight, 2),
        }


def display(record: MatchRecord, field_name: str) -> str:
    value = getattr(record, field_name)
    return ", ".join(value) if isinstance(value, tuple) else value


def explain(model: Model, a: MatchRecord, b: MatchRecord, gamma: Gamma | None = None) -> list:
    """Per field: the two values as stored, the level and its weight (missing: weight 0)."""
    if gamma is None:
        gamma = compare(prepare(a), prepare(b))
    return [
        Evidence(
            field=c.field,
            label=c.label,
            a=display(a, c.field),
            b=display(b, c.field),
            level="missing" if level is None else c.levels[level],
            weight=model.weight(c.field, level),
        )
        for c, level in zip(COMPARISONS, gamma, strict=True)
    ]


def disagreements(gamma: Gamma, fields: Sequence[str] = ("first_name", "birth_date")) -> list[str]:
    """The `fields` present on both sides whose values are simply different.

    Two people of one household share an address and a surname; a first name or a date of birth
    that plainly differs is what tells them apart, whatever the total weight says.
    """
    out = []
    for c, level in zip(COMPARISONS, gamma, strict=True):
        if c.field in fields and level == len(c.levels) - 1:
            out.append(c.field)
    return out


@dataclass
class Linkage:
    """The outcome of `link`: the trained model and the scored candidate pairs, best first."""

    model: Model
    pairs: list[ScoredPair]
    records: dict[int, MatchRecord]
    compared: int = 0
    blocks: int = 0
    skipped_blocks: int = 0
    stats: dict = field(default_factory=dict)

    def explain(self, pair: ScoredPair) -> list[Evidence]:
        return explain(self.model, self.records[pair.key_a], self.records[pair.key_b], pair.gamma)


def link(
    records: Sequence[MatchRecord],
    *,
    seed: int = 0,
    min_probability: float = 0.0,
    max_block_size: int = MAX_BLOCK_SIZE,
    u_sample_pairs: int = U_SAMPLE_PAIRS,
    max_iterations: int = MAX_ITERATIONS,
) -> Linkage:
    """Block, compare, train by EM, then score the candidate pairs; keep those ≥ min_probability."""
    clock = _Clock()
    records = sorted(records, key=lambda r: r.key)
    prepared = [prepare(r) for r in records]
    blocking = candidate_pairs(prepared, max_block_size)
    clock.lap("blocking")
    gammas = [compare(prepared[i], prepared[j]) for i, j in blocking.pairs]
    clock.lap("comparing")
    rng = random.Random(seed)  # noqa: S311 - sampling, seeded for repeatable runs
    u = estimate_u(prepared, rng=rng, sample_pairs=u_sample_pairs)
    clock.lap("u_sampling")
    model = train(gammas, records=len(records), u=u, max_iterations=max_iterations)
    clock.lap("em")
    weights: dict[Gamma, float] = {}
    scored = []
    for (i, j), gamma in zip(blocking.pairs, gammas, strict=True):
        weight = weights.get(gamma)
        if weight is None:
            weight = weights[gamma] = model.match_weight(gamma)
        p = probability(weight)
        if p >= min_probability:
            scored.append(ScoredPair(records[i].key, records[j].key, p, weight, gamma))
    scored.sort(key=lambda s: (-s.weight, s.key_a, s.key_b))
    clock.lap("scoring")
    return Linkage(
        model=model,
        pairs=scored,
        records={r.key: r for r in records},
        compared=len(blocking.pairs),
        blocks=blocking.blocks,
        skipped_blocks=blocking.skipped_blocks,
        stats={
            "patterns": len(weights),
            "skipped_records": blocking.skipped_records,
            "seconds": clock.laps,
        },
    )


class _Clock:
    """Seconds spent per stage, for the run's summary."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


# --- Records from profile traits ------------------------------------------------------------------

_FIRST = ("firstName", "first_name", "firstname", "givenName", "given_name")
_LAST = ("lastName", "last_name", "lastname", "surname", "familyName", "family_name")
_BIRTH = ("birthday", "dateOfBirth", "date_of_birth", "birthDate", "birth_date", "dob")
_POSTCODE = ("postalCode", "postal_code", "postcode", "postCode", "zip", "zipCode")
_STREET = ("street", "line1", "address_line1", "addressLine1", "street1")
_CITY = ("city", "town")


def _text(source: dict, keys: Sequence[str]) -> str:
    for key in keys:
        value = source.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def record_from_traits(
    key: int, traits: dict, *, emails: Sequence[str] = (), phones: Sequence[str] = ()
) -> MatchRecord:
    """A profile's record: Segment's reserved traits (and common spellings), nested `address`
    first, then top-level keys; a single `name` is split into first and last."""
    address = traits.get("address") if isinstance(traits.get("address"), dict) else {}
    first, last = _text(traits, _FIRST), _text(traits, _LAST)
    if not (first or last) and (full := _text(traits, ("name",))):
        words = full.split()
        first, last = words[0], words[-1] if len(words) > 1 else ""
    email = _text(traits, ("email",)).lower()
    return MatchRecord(
        key=key,
        first_name=first,
        last_name=last,
        emails=tuple(dict.fromkeys([*emails, *([email] if email else [])])),
        phones=tuple(phones),
        birth_date=_text(traits, _BIRTH),
        postcode=_text(address, _POSTCODE) or _text(traits, _POSTCODE),
        street=_text(address, _STREET) or _text(traits, _STREET),
        city=_text(address, _CITY) or _text(traits, _CITY),
    )


def matchable(record: MatchRecord) -> bool:
    """Worth comparing: a name and at least one of date of birth, postcode or street."""
    has_name = bool(name_key(record.first_name) or name_key(record.last_name))
    return has_name and bool(
        date_key(record.birth_date) or postcode_key(record.postcode) or street_key(record.street)
    )
