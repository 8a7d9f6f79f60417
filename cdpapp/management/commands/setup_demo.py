import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from cdpapp.roles import Role
from cdpapp.services import roles_sync, user_create


class Command(BaseCommand):
    help = "On first start: create one demo user per role and load the demo data. Safe to repeat."

    def handle(self, *args, **options):
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
