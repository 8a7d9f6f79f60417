import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cdpapp.roles import Role
from cdpapp.services import roles_sync, user_create
from profiles.management.commands import generate_demo
from profiles.models import Event


class Command(BaseCommand):
    help = "On first start: create one demo user per role and load the demo data. Safe to repeat."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-data",
            action="store_true",
            help="do not load the demo data into an empty database",
        )

    def handle(self, *args, no_data=False, **options):
        roles_sync()
        credentials = Path(settings.VAR_DIR) / "demo-users.txt"
        users = get_user_model().objects
        if not credentials.exists() and not users.filter(username__in=list(Role)).exists():
            lines = []
            for role in Role:
                password = secrets.token_urlsafe(9)
                user_create(username=role.value, role=role, password=password)
                lines.append(f"{role.value:<10} {password}")
            credentials.parent.mkdir(parents=True, exist_ok=True)
            credentials.write_text("\n".join(lines) + "\n")
            credentials.chmod(0o600)
        if credentials.exists():
            self.stdout.write("Demo users (username password), also in var/demo-users.txt:")
            self.stdout.write(credentials.read_text().rstrip())
        if not no_data and not Event.objects.exists():
            truth = Path(settings.VAR_DIR) / "demo-truth.json"
            self.stdout.write(
                f"No events yet: loading the demo data ({generate_demo.DEFAULT_CUSTOMERS} "
                f"customers over {generate_demo.DEFAULT_DAYS} days, about a minute); "
                f"ground truth in {truth}."
            )
            call_command("generate_demo", truth=str(truth), stdout=self.stdout)
