import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = "Serve the web app (gunicorn) and the django-q2 worker together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "3"))
        )

    def handle(self, *args, host, port, web_workers, **options):
        # Start (or join) the database first, and hold it while the children run.
        connection.ensure_connection()
        connection.close()
        manage = str(settings.BASE_DIR / "manage.py")
        web = [
            sys.executable, "-m", "gunicorn", "cdpapp.wsgi",
            "--bind", f"{host}:{port}", "--workers", str(web_workers), "--threads", "4",
            "--timeout", "120", "--graceful-timeout", "5",
        ]  # fmt: skip
        worker = [sys.executable, manage, "qcluster"]
        children = [subprocess.Popen(web), subprocess.Popen(worker)]  # noqa: S603
        self.stdout.write(f"CDP on http://{host}:{port}/ with its worker. Ctrl-C stops both.")

        def stop(signum, frame):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while all(child.poll() is None for child in children):
                try:
                    children[0].wait(timeout=1)
                except subprocess.TimeoutExpired:
                    continue
        finally:
            stop(None, None)
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [child.args[2] for child in children if child.returncode not in (0, -15, None)]
        if failed:
            self.stderr.write(f"stopped: {', '.join(failed)} exited with an error")
