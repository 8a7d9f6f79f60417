from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Sessions and caches live in the database unless REDIS_URL is set; `migrate` is enough.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("cdpapp", "0002_heartbeat_schedule")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
