"""A covering index for segment queries: events by name and time, with their profile.

Segment conditions look up "who did event E since T" (performed / not performed, the hash side of
an anti-join, the first step of a sequence). The (name, timestamp) index alone sends every match
to the heap for its profile_id; including the profile makes it an index-only scan (DESIGN.md,
"Ceilings measured"). The table belongs to the profiles app, so this is plain SQL and leaves its
model state alone; built CONCURRENTLY so that collection keeps writing meanwhile.
"""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("segments", "0002_schedule"), ("profiles", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS segments_event_name_time_profile "
            "ON profiles_event (name, timestamp) INCLUDE (profile_id)",
            "DROP INDEX CONCURRENTLY IF EXISTS segments_event_name_time_profile",
        )
    ]
