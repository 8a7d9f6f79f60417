from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cdpapp.roles import Role
from cdpapp.services import api_token_create, user_create


class Command(BaseCommand):
    help = "Create a user with one role and print an API token for them (the last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--password", help="a password for the web UI (random when omitted)")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, password, email, **options):
        try:
            user = user_create(username=username, role=Role(role), password=password, email=email)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        _, token = api_token_create(user=user)
        self.stdout.write(f"Created {role} {user.username}. API token (shown once):")
        self.stdout.write(token)
