"""The real Segment JavaScript libraries, installed from npm into tests/clients/ by `make test`."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CLIENTS = Path(__file__).resolve().parent / "clients"
NODE_MODULES = CLIENTS / "node_modules"


def installed(package: str) -> Path:
    """Where npm put `package`; fails (never skips) when it is not there."""
    path = NODE_MODULES / package
    if not (path / "package.json").is_file():
        pytest.fail(
            f"{package} is not installed in {NODE_MODULES}: run `make test`, or "
            "`npm ci --prefix tests/clients`"
        )
    return path


def node(*args: str, stdin: str | None = None, timeout: float = 120):
    """Run `node args...` in tests/clients (so imports find node_modules); the finished process."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("node is not on PATH: install Node.js (the nodejs package), as .ci/run does")
    return subprocess.run(  # noqa: S603 - our own script, with arguments we made
        [executable, *args],
        cwd=CLIENTS,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary(process) -> dict:
    """The JSON summary a script printed on stdout, with its stderr when it printed none."""
    try:
        return json.loads(process.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no summary from node (exit {process.returncode}):\n{process.stderr}")


def install_snippet(client, source, live_server_url: str, name: str) -> str:
    """The install help's `name` snippet for `source`, as an admin copies it from the page served
    at the live server's address (so it points there)."""
    parts = urlsplit(live_server_url)
    page = client.get(
        f"/profiles/sources/{source.pk}/", SERVER_NAME=parts.hostname, SERVER_PORT=str(parts.port)
    )
    assert page.status_code == 200
    found = re.search(rf'<pre id="snippet-{name}"><code>(.*?)</code>', page.content.decode(), re.S)
    assert found, f"no {name} snippet on the source page"
    return html.unescape(found.group(1))
