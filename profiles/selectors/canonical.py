"""Where merged profiles went: the one walk along merged_into, up to the survivor or down to
every profile merged in. Imports no service, so the processor can use it too."""

from django.db import connection


def profiles_canonical(profile_ids) -> dict[int, int]:
    """Each of `profile_ids` -> the active profile it is part of now (itself if never merged);
    ids that do not exist are left out."""
    ids = list(profile_ids)
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE up(start, id, parent) AS ("
            " SELECT id, id, merged_into_id FROM profiles_profile WHERE id = ANY(%s)"
            " UNION ALL SELECT up.start, p.id, p.merged_into_id FROM up"
            " JOIN profiles_profile p ON p.id = up.parent)"
            " SELECT start, id FROM up WHERE parent IS NULL",
            [ids],
        )
        return dict(cursor.fetchall())


def profile_family(profile_id: int) -> list[int]:
    """`profile_id` and every profile merged into it, directly or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE down(id) AS (SELECT %s::bigint UNION ALL "
            "SELECT p.id FROM profiles_profile p JOIN down ON p.merged_into_id = down.id) "
            "SELECT id FROM down",
            [profile_id],
        )
        return [row[0] for row in cursor.fetchall()]
