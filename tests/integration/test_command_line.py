"""Issue #4's must-show from the command line, each command a separate `python manage.py`
process on the test database: `create_source`, `import_records` of a CSV of people,
`resolve_identities --probabilistic`, `export_identities`. The CSV holds a CRM record of Jane with
her first name mistyped and no identifier in common with her web profile: the commands end with
one profile for her, and the export says so."""

import csv

import pytest

from profiles.models import MergeEntry, Profile
from profiles.tests.matching_helpers import crowd, identify, person
from tests.processes import manage

pytestmark = pytest.mark.django_db(transaction=True)

JANE_WEB = person(
    "Jane", "Doe", "1985-04-12", "12 Oak Road", "SW1A 1AA", "London", "jane.doe@example.com"
)
HEADER = ["crm_id", "email", "first", "last", "dob", "street", "postcode", "city"]
MAPPING = [
    "crm_id=identifier:crm_id",
    "email=identifier:email",
    "first=trait:firstName",
    "last=trait:lastName",
    "dob=trait:birthday",
    "street=trait:address.street",
    "postcode=trait:address.postalCode",
    "city=trait:address.city",
]


def run(*args: str) -> str:
    done = manage(*args)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def test_import_resolve_and_export_from_the_command_line(tmp_path):
    web_key = run("create_source", "Website", "--kind", "website").strip().splitlines()[-1]
    crowd(web_key)  # 40 unrelated people, so the model has a population to learn from
    identify(web_key, user_id="u-jane", anonymous_id="a-jane", **JANE_WEB)
    run("create_source", "CRM export", "--kind", "crm")

    people = tmp_path / "crm.csv"
    with people.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerow(["C-1", "j.doe@example.org", "Jnae", "Doe", "1985-04-12", "12 Oak Rd",
                         "sw1a1aa", "London"])  # fmt: skip
        writer.writerow(["C-2", "r.khan@example.org", "Ravi", "Khan", "1979-02-03",
                         "4 Elm Street", "M1 2AB", "Manchester"])  # fmt: skip
        writer.writerow(["", "", "Nobody", "Known", "", "", "", ""])  # no identifier
    imported = run("import_records", str(people), "--source", "CRM export", "--map", *MAPPING)
    assert "accepted   2" in imported and "rejected   1" in imported, imported
    assert "row 3 [missing_identity] No identifier" in imported  # named, with its reason

    resolved = run("resolve_identities", "--probabilistic")
    assert "1 merged automatically" in resolved, resolved

    export = tmp_path / "identities.csv"
    run("export_identities", "--output", str(export))
    with export.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["profile_id", "id_type", "value"]
    profile_of = {(r["id_type"], r["value"]): r["profile_id"] for r in rows}
    jane = profile_of[("user_id", "u-jane")]
    assert profile_of[("crm_id", "C-1")] == jane
    assert profile_of[("email", "j.doe@example.org")] == jane
    assert profile_of[("email", "jane.doe@example.com")] == jane
    assert profile_of[("crm_id", "C-2")] != jane
    assert not any(r["value"] == "Nobody" for r in rows)

    entry = MergeEntry.objects.get(kind="merge")
    assert (entry.survivor_id, entry.reason) == (int(jane), "probabilistic")
    assert Profile.objects.get(pk=entry.absorbed_id).merged_into_id == int(jane)
