from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    from cdpapp.services import roles_sync

    roles_sync()


class CdpappConfig(AppConfig):
    name = "cdpapp"
    verbose_name = "CDP platform"

    def ready(self):
        # Groups and permissions follow cdpapp.roles after every migrate.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="cdpapp-roles-sync")
