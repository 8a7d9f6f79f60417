"""Django's PostgreSQL backend, pointed at the embedded server, which it starts on first use."""

from django.db.backends.postgresql import base

from cdpapp.db.server import ensure_embedded_server


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        embedded = self.settings_dict["EMBEDDED"]
        server = ensure_embedded_server(
            embedded["PGDATA"], database=embedded["DATABASE"], cleanup=embedded["CLEANUP"]
        )
        params = super().get_connection_params()
        params.update(host=server.host, port=server.port, user=server.user)
        return params
