"""Membership: refresh, real-time updates from the processor, versions, preview and explain."""

from datetime import timedelta

import pytest
from django.utils import timezone

from profiles.models import Profile
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from segments.models import Membership, Segment, SegmentVersion
from segments.selectors import (
    profile_segments,
    segment_entries_exits,
    segment_explain,
    segment_members,
    segment_members_at,
    segment_preview,
)
from segments.services import (
    segment_create,
    segment_refresh,
    segment_update,
    segments_apply_profile_changes,
)
from tests.collect import send, send_and_process

pytestmark = pytest.mark.django_db


def big_spender(threshold=100):
    return {
        "version": 1,
        "root": {
            "id": "root",
            "type": "group",
            "op": "and",
            "children": [
                {
                    "id": "orders",
                    "type": "event",
                    "event": "Order Completed",
                    "window": {"kind": "last_days", "days": 30},
                    "aggregate": {
                        "function": "sum",
                        "property": "revenue",
                        "operator": "gte",
                        "value": threshold,
                    },
                },
                {"id": "mail", "type": "consent", "purpose": "email_marketing"},
            ],
        },
    }


@pytest.fixture
def shop(db):
    _, key = source_create(name="Web", kind="website")
    now = timezone.now().isoformat()
    consent = {"consent": {"categoryPreferences": {"email_marketing": True}}}
    send_and_process(
        key,
        {"type": "identify", "userId": "ann", "context": consent, "timestamp": now},
        {
            "type": "track",
            "userId": "ann",
            "event": "Order Completed",
            "properties": {"revenue": 80},
            "timestamp": now,
        },
        {
            "type": "track",
            "userId": "ann",
            "event": "Order Completed",
            "properties": {"revenue": 40},
            "timestamp": now,
        },
        {"type": "identify", "userId": "bob", "timestamp": now},
        {
            "type": "track",
            "userId": "bob",
            "event": "Order Completed",
            "properties": {"revenue": 500},
            "timestamp": now,
        },
    )
    return key


def pid(user_id):
    return Profile.objects.get(identities__value=user_id).pk


def test_refresh_stores_members_with_entry_times_and_a_snapshot(shop):
    segment = segment_create(name="Big spenders", definition=big_spender())
    change = segment_refresh(segment=segment)
    assert change.entered == [pid("ann")]
    segment.refresh_from_db()
    assert (segment.size, segment.status, segment.last_error) == (1, "ready", "")
    assert list(segment_members(segment).values_list("pk", flat=True)) == [pid("ann")]
    assert segment.snapshots.get().size == 1
    assert list(profile_segments(pid("ann"))) == [segment]
    assert segment_refresh(segment=segment).entered == []  # idempotent


def test_new_events_move_profiles_in_real_time(shop):
    segment = segment_create(name="Big spenders", definition=big_spender())
    segment_refresh(segment=segment)
    before = timezone.now()
    send(
        shop,
        {
            "type": "identify",
            "userId": "bob",
            "timestamp": timezone.now().isoformat(),
            "context": {"consent": {"categoryPreferences": {"email_marketing": True}}},
        },
        {
            "type": "identify",
            "userId": "ann",
            "timestamp": timezone.now().isoformat(),
            "context": {"consent": {"categoryPreferences": {"email_marketing": False}}},
        },
    )
    result = events_process_pending()
    assert result == 2
    changes = segments_apply_profile_changes(profile_ids={pid("ann"), pid("bob")})
    assert changes[segment.pk].entered == [pid("bob")]
    assert changes[segment.pk].exited == [pid("ann")]
    assert set(segment_members(segment).values_list("pk", flat=True)) == {pid("bob")}
    # History answers "who was in it then".
    assert set(segment_members_at(segment, before).values_list("pk", flat=True)) == {pid("ann")}
    assert segment_entries_exits(segment, before, timezone.now() + timedelta(seconds=1)) == {
        "entered": 1,
        "exited": 1,
    }


def test_the_processor_signal_queues_the_real_time_update(shop, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    segment_create(name="Big spenders", definition=big_spender())
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        send_and_process(
            shop, {"type": "identify", "userId": "bob", "timestamp": timezone.now().isoformat()}
        )
    payloads = [task.task["func"] for task in OrmQ.objects.all()]
    assert "segments.tasks.apply_profile_changes" in payloads


def test_a_new_version_records_its_member_diff(shop):
    segment = segment_create(name="Spenders", definition=big_spender(100))
    segment_refresh(segment=segment)
    segment = segment_update(segment=segment, definition=big_spender(1000))
    segment_refresh(segment=segment)
    version = SegmentVersion.objects.get(segment=segment, version=2)
    assert (version.size, version.entered, version.exited) == (0, 0, 1)
    assert version.sample_exited == [pid("ann")]
    assert segment.definition_version == 2


def test_a_failed_refresh_shows_its_error_and_is_not_left_calculating(shop):
    segment = segment_create(name="Broken", definition=big_spender())
    Segment.objects.filter(pk=segment.pk).update(definition={"version": 1, "root": {"id": "r"}})
    assert segment_refresh(segment=segment) is None
    segment.refresh_from_db()
    assert segment.status == "failed"
    assert "'root' must be a group node" in segment.last_error


def test_preview_counts_every_node_and_explains_a_profile(shop):
    preview = segment_preview(big_spender())
    assert preview.count == 1
    assert preview.node_counts == {"root": 1, "orders": 2, "mail": 1}
    assert [p.pk for p in preview.sample] == [pid("ann")]
    assert segment_explain(big_spender(), pid("bob")) == {
        "root": False,
        "orders": True,
        "mail": False,
    }


def test_membership_of_another_segment_and_cycles(shop):
    from segments.domain.definition import DefinitionError

    spenders = segment_create(name="Spenders", definition=big_spender())
    segment_refresh(segment=spenders)
    others = segment_create(
        name="Others",
        definition={
            "version": 1,
            "root": {
                "id": "r",
                "type": "group",
                "op": "and",
                "children": [
                    {"id": "s", "type": "segment", "segment": spenders.pk, "member": False}
                ],
            },
        },
    )
    segment_refresh(segment=others)
    assert set(segment_members(others).values_list("pk", flat=True)) == {pid("bob")}
    with pytest.raises(DefinitionError, match="refers back to itself"):
        segment_update(
            segment=spenders,
            definition={
                "version": 1,
                "root": {
                    "id": "r",
                    "type": "group",
                    "op": "and",
                    "children": [{"id": "s", "type": "segment", "segment": others.pk}],
                },
            },
        )
    assert Membership.objects.filter(segment=others, exited_at__isnull=True).count() == 1
