"""`manage.py export_identities`: the exact CSV, to a file and to stdout."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from profiles.services.merges import profile_merge
from profiles.tests.explorer_scenario import build


@pytest.fixture
def scenario(db):
    return build()


def expected_csv(scenario) -> str:
    jane, bob = scenario.jane.pk, scenario.bob.pk
    rows = [
        f"{jane},anonymous_id,anon-1",
        f"{jane},anonymous_id,crm-row-1",
        f"{jane},anonymous_id,pos-receipt-77",
        f"{jane},crm_id,C-1",
        f"{jane},email,jane.d@work.example",
        f"{jane},email,jane.doe@example.com",
        f"{jane},phone,+447700900123",
        f"{jane},user_id,u-jane",
        f"{bob},email,bob@example.org",
        f"{bob},user_id,u-bob",
    ]
    if bob < jane:
        rows = rows[-2:] + rows[:-2]
    return "profile_id,id_type,value\n" + "".join(f"{row}\n" for row in rows)


def test_writes_one_row_per_identifier_of_active_profiles(scenario, tmp_path):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    target = tmp_path / "identities.csv"
    err = StringIO()
    call_command("export_identities", "--output", str(target), stderr=err)
    assert target.read_text(encoding="utf-8") == expected_csv(scenario)
    assert err.getvalue().strip() == f"Wrote 10 identifiers to {target}."


def test_dash_writes_to_stdout(scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    out, err = StringIO(), StringIO()
    call_command("export_identities", "--output", "-", stdout=out, stderr=err)
    assert out.getvalue() == expected_csv(scenario)
    assert "Wrote 10 identifiers to stdout." in err.getvalue()


def test_values_with_commas_and_quotes_are_quoted(db, tmp_path):
    from profiles.models import Identity, Profile
    from profiles.tests.explorer_scenario import T0

    profile = Profile.objects.create(first_seen=T0, last_seen=T0)
    Identity.objects.create(
        id_type="crm_id", value='A,"1"', profile=profile, origin_profile=profile,
        first_seen=T0, last_seen=T0,
    )  # fmt: skip
    out = StringIO()
    call_command("export_identities", "--output", "-", stdout=out, stderr=StringIO())
    assert out.getvalue() == f'profile_id,id_type,value\n{profile.pk},crm_id,"A,""1"""\n'


def test_an_unwritable_path_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_identities", "--output", str(tmp_path / "missing" / "x.csv"))
