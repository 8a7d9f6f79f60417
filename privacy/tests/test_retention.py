from datetime import timedelta

import pytest
from django.utils import timezone

from privacy.models import RetentionPolicy
from privacy.services.retention import retention_dry_run, retention_run
from profiles.models import Event, Profile, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(db):
    now = timezone.now()
    web = Source.objects.create(name="Web", kind="website")
    pos = Source.objects.create(name="POS", kind="pos")
    old, fresh = (
        Profile.objects.create(
            first_seen=now - timedelta(days=400), last_seen=now - timedelta(days=300)
        ),
        Profile.objects.create(first_seen=now, last_seen=now),
    )
    for n, (source, age, profile) in enumerate(
        [(web, 100, old), (web, 10, fresh), (pos, 100, fresh), (web, 200, old)]
    ):
        Event.objects.create(
            source=source,
            message_id=f"m{n}",
            type="track",
            name="E",
            timestamp=now - timedelta(days=age),
            profile=profile,
            received_at=now - timedelta(days=age),
        )
    return {"web": web, "pos": pos, "old": old, "fresh": fresh}


def test_dry_run_counts_then_enabled_policies_delete(data):
    RetentionPolicy.objects.create(source=data["web"], raw_event_days=30, enabled=False)
    RetentionPolicy.objects.create(source=None, inactive_profile_days=180, enabled=False)
    plan = retention_dry_run()
    assert (plan.events, plan.profiles) == ({data["web"].pk: 2}, 1)
    assert retention_run().events == {}  # nothing enabled yet
    assert Event.objects.count() == 4
    RetentionPolicy.objects.update(enabled=True)
    done = retention_run()
    assert done.events == {data["web"].pk: 2}
    assert done.profiles == 1
    assert list(Profile.objects.values_list("pk", flat=True)) == [data["fresh"].pk]
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m1", "m2"]
