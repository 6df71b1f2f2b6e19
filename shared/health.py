"""Cheap probes for Kubernetes: an HTTP listener inside each service process (a green thread on
HEALTH_PORT), so a probe costs one HTTP request, not a new Python process and an RPC round trip.

- `GET /livez` answers 200 while the process's event loop runs (this green thread is scheduled);
- `GET /readyz` answers 200 while the last periodic check, every HEALTH_CHECK_SECONDS, passed
  within HEALTH_STALE_SECONDS: the service's database answered (its log head) and the broker
  accepted a connection; else 503 with what failed.

The check runs in its own green thread, never in the probe's request, so a slow database cannot
hold the kubelet's connection; the answer is a JSON line. HEALTH_PORT 0 (the default locally)
starts nothing."""

from __future__ import annotations

import json
import time

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.extensions import DependencyProvider

from shared.errors import ConfigError


class _Quiet:
    def write(self, *_):
        pass


class HealthProbe(DependencyProvider):
    """`health_probe = HealthProbe()` on a service class (shared/service.ServiceBase has it)."""

    def setup(self):
        config = self.container.config
        try:
            self.port = int(config.get("HEALTH_PORT") or 0)
            self.every = float(config.get("HEALTH_CHECK_SECONDS") or 5)
            self.stale = float(config.get("HEALTH_STALE_SECONDS") or 30)
        except (TypeError, ValueError):
            raise ConfigError("HEALTH_PORT, HEALTH_CHECK_SECONDS and HEALTH_STALE_SECONDS "
                              "must be numbers", field="HEALTH_PORT") from None
        self.amqp_uri = config.get("AMQP_URI")
        self.last_ok: float | None = None
        self.failure: str | None = "not checked yet"
        self.socket = None
        self.connection = self.channel = None

    def start(self):
        if self.port <= 0:
            return
        self.socket = eventlet.listen(("0.0.0.0", self.port))  # noqa: S104 - the pod's probe port
        self.container.spawn_managed_thread(self._check_forever)
        self.container.spawn_managed_thread(self._serve)

    def stop(self):
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self._drop_connection()

    kill = stop

    def _database(self):
        from shared.db import Database

        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                return dependency
        return None

    def check(self) -> str | None:
        """None when the database and the broker answer, else what failed. One broker
        connection is kept for the checks (a round trip on it each time, not a new connection:
        RabbitMQ would log every one) and dropped when a check fails."""
        database = self._database()
        if database is not None:
            try:
                with database.engine.connect() as conn:
                    database.store.head(conn.connection)
            except Exception as exc:  # noqa: BLE001 - any failure makes the pod unready
                return f"database: {type(exc).__name__}"
        if self.amqp_uri:
            try:
                if self.channel is None:
                    self.connection = Connection(self.amqp_uri, connect_timeout=5)
                    self.connection.ensure_connection(max_retries=1)
                    self.channel = self.connection.channel()
                self.channel.basic_qos(0, 0, False)  # a synchronous round trip
            except Exception as exc:  # noqa: BLE001
                self._drop_connection()
                return f"broker: {type(exc).__name__}"
        return None

    def _drop_connection(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001, S110 - it is being thrown away
                pass

    def _check_forever(self):
        while True:
            # a check stuck on a silent network ends here; the pod turns unready meanwhile
            failure = "check timed out"
            with eventlet.Timeout(max(2 * self.every, 10), False):
                failure = self.check()
            if failure == "check timed out":
                self._drop_connection()
            self.failure = failure
            if failure is None:
                self.last_ok = time.monotonic()
            eventlet.sleep(self.every)

    def ready(self) -> tuple[bool, str]:
        if self.last_ok is None or time.monotonic() - self.last_ok > self.stale:
            return False, self.failure or "last check too old"
        return True, "ok"

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/livez":
            status, body = "200 OK", {"status": "alive"}
        elif path == "/readyz":
            ok, reason = self.ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            body = {"status": "ready" if ok else "unready", "reason": reason}
        else:
            status, body = "404 Not Found", {"status": "unknown path"}
        payload = json.dumps({"service": self.container.service_name, **body}).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    def _serve(self):
        wsgi.server(self.socket, self._app, log=_Quiet(), log_output=False, socket_timeout=5)
