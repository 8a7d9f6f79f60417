from django.apps import AppConfig


def _on_profiles_changed(sender, profile_ids, **kwargs):
    # Sent after the processor's transaction commits: queue the real-time membership update.
    from django_q.tasks import async_task

    if profile_ids:
        async_task("segments.tasks.apply_profile_changes", sorted(profile_ids))


class SegmentsConfig(AppConfig):
    name = "segments"

    def ready(self):
        from profiles.signals import profiles_changed

        profiles_changed.connect(_on_profiles_changed, dispatch_uid="segments-realtime")
