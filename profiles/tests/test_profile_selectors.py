"""Profile search and the profile page's reads, on real collected and processed events."""

import pytest

from profiles.models import MergeEntry
from profiles.selectors.profiles import (
    ProfileLookupError,
    identities_for_export,
    profile_consent,
    profile_counts,
    profile_event_names,
    profile_event_page,
    profile_events,
    profile_identifiers,
    profile_lookup,
    profile_merge_history,
    profile_resolve,
    profile_search,
    profile_search_page,
    profile_segment_memberships,
    profile_traits,
)
from profiles.services.merges import profile_merge, profile_unmerge
from profiles.services.processing import events_process_pending
from profiles.tests.explorer_scenario import at, build, last_name_is
from segments.services import segment_create, segment_refresh
from tests.collect import send


@pytest.fixture
def scenario(db):
    return build()


def ids(profiles) -> list[int]:
    return [profile.pk for profile in profiles]


@pytest.mark.parametrize(
    "query",
    [
        "  Jane.Doe@EXAMPLE.com ",
        "jane.doe@example.com",
        "07700 900123",
        "+44 7700 900123",
        "(07700) 900-123",
        "u-jane",
        "pos-receipt-77",
    ],
)
def test_search_finds_a_person_by_any_identifier_however_written(scenario, query):
    assert ids(profile_search(query=query)) == [scenario.jane.pk]


def test_search_by_trait_substring_full_name_and_containment(scenario):
    assert set(ids(profile_search(query="doe"))) == {scenario.jane.pk, scenario.crm.pk}
    assert ids(profile_search(query="Jane Doe")) == [scenario.jane.pk]
    assert ids(profile_search(query="work.example")) == [scenario.crm.pk]
    assert ids(profile_search(query="plan=gold")) == [scenario.bob.pk]
    assert ids(profile_search(query="vip=true")) == [scenario.bob.pk]
    assert ids(profile_search(query="plan=silver")) == []
    assert ids(profile_search(query="nobody-at-all")) == []


def test_search_by_profile_id_and_exact_matches_come_first(scenario):
    assert ids(profile_search(query=f"#{scenario.bob.pk}")) == [scenario.bob.pk]
    # "Doe" is a substring of both; Jane's email identifier is an exact match, so she leads.
    send(
        scenario.keys["website"],
        {
            "type": "identify",
            "userId": "u-doe",
            "traits": {"email": "doe@example.com", "lastName": "Smith"},
            "timestamp": at(500),
        },
    )
    events_process_pending()
    found = ids(profile_search(query="doe@example.com"))
    assert found[0] != scenario.jane.pk
    assert scenario.jane.pk in found  # jane.doe@example.com contains the text


def test_empty_search_lists_active_profiles_most_recently_seen_first(scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    assert ids(profile_search(query="")) == [scenario.jane.pk, scenario.bob.pk]


def test_search_results_are_paginated(db):
    scenario = build()
    send(
        scenario.keys["website"],
        *[
            {
                "type": "identify",
                "userId": f"u-{n}",
                "traits": {"lastName": "Many"},
                "timestamp": at(n),
            }
            for n in range(30)
        ],
    )
    events_process_pending()
    first = profile_search_page(query="many", page=1, per_page=25)
    assert first.paginator.count == 30
    assert len(first.object_list) == 25
    second = profile_search_page(query="many", page="2", per_page=25)
    assert len(second.object_list) == 5
    assert not set(ids(first.object_list)) & set(ids(second.object_list))
    assert profile_search_page(query="many", page="99", per_page=25).number == 2
    assert profile_search_page(query="many", page="x", per_page=25).number == 1


def test_lookup_normalises_the_value(scenario):
    assert profile_lookup(id_type="email", value=" JANE.DOE@example.COM ").pk == scenario.jane.pk
    assert profile_lookup(id_type="phone", value="07700 900123").pk == scenario.jane.pk
    assert profile_lookup(id_type="email", value="nobody@example.com") is None
    with pytest.raises(ProfileLookupError, match="Unknown identifier type"):
        profile_lookup(id_type="shoe_size", value="9")
    with pytest.raises(ProfileLookupError, match="not a usable email"):
        profile_lookup(id_type="email", value="not-an-email")


def test_lookup_and_resolve_follow_a_merge_to_the_survivor(scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    assert profile_resolve(profile_id=scenario.crm.pk).pk == scenario.jane.pk
    assert profile_lookup(id_type="crm_id", value="C-1").pk == scenario.jane.pk
    assert profile_resolve(profile_id=10**12) is None


def test_traits_carry_their_lineage_and_consent_its_source(scenario):
    traits = {row.key: row for row in profile_traits(profile=scenario.jane)}
    assert traits["firstName"].value == "Jane"
    assert traits["firstName"].source_name == "Website"
    assert traits["firstName"].event_id is not None
    assert traits["firstName"].at.isoformat() == at(2)
    (consent,) = profile_consent(profile=scenario.jane)
    assert (consent.purpose, consent.granted, consent.source_name) == (
        "email_marketing",
        True,
        "Website",
    )


def test_identifiers_and_timeline(scenario):
    assert [
        (i.id_type, i.value, i.source.name) for i in profile_identifiers(profile=scenario.jane)
    ] == [
        ("anonymous_id", "anon-1", "Website"),
        ("anonymous_id", "pos-receipt-77", "Pos"),
        ("email", "jane.doe@example.com", "Website"),
        ("phone", "+447700900123", "Website"),
        ("user_id", "u-jane", "Website"),
    ]
    timeline = list(profile_events(profile=scenario.jane))
    assert [e.name for e in timeline] == ["Order Completed", None, "Product Viewed", "Home"]
    assert [e.name for e in profile_events(profile=scenario.jane, name="Home")] == ["Home"]
    assert profile_event_names(profile=scenario.jane) == [
        "Home",
        "Order Completed",
        "Product Viewed",
    ]
    page = profile_event_page(profile=scenario.jane, page=2, per_page=3)
    assert [e.name for e in page] == ["Home"]


def test_merge_history_shows_merges_and_their_undo_from_both_sides(scenario):
    entry = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    assert list(profile_merge_history(profile=scenario.jane)) == [entry]
    counts = profile_counts(profile=scenario.jane)
    assert (counts.events, counts.identifiers, counts.merges, counts.merged_profiles) == (
        5,
        8,
        1,
        1,
    )
    undo = profile_unmerge(entry=entry)
    for profile in (scenario.jane, scenario.crm):
        history = list(profile_merge_history(profile=profile))
        assert history == [undo, entry]
        assert history[1].undone_by == undo
    assert profile_counts(profile=scenario.jane).merged_profiles == 0


def test_merge_history_includes_merges_of_profiles_merged_in_earlier(scenario):
    first = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    second = profile_merge(survivor=scenario.jane, absorbed=scenario.bob, reason="review")
    assert MergeEntry.objects.count() == 2
    assert set(profile_merge_history(profile=scenario.jane)) == {first, second}
    assert set(profile_merge_history(profile=scenario.crm)) == {first}


def test_segment_memberships_come_from_the_segments_app(scenario):
    assert profile_segment_memberships(profile=scenario.jane) == []
    does = segment_create(name="The Does", definition=last_name_is("Doe"))
    segment_refresh(segment=does)
    assert profile_segment_memberships(profile=scenario.jane) == [does]
    assert profile_segment_memberships(profile=scenario.bob) == []


def test_export_rows_are_every_identifier_of_active_profiles(scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    rows = list(identities_for_export(chunk_size=2))
    assert {row[0] for row in rows} == {scenario.jane.pk, scenario.bob.pk}
    assert rows == sorted(rows)
    assert len(rows) == 8 + 2
