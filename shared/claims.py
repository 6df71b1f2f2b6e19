"""Claims on background jobs that die with their process: a PostgreSQL session advisory lock
per job, held on one connection of the claiming process for as long as it works on the job.

Why not a heartbeat and a timeout: a timeout has to be long enough for the slowest live worker
(so a dead worker's job waited two minutes for it), and a live worker slowed past it has its job
stolen. A session lock has neither problem: while the process lives, its connection lives and
the lock is held however slow the work; when the process dies (SIGKILL, OOM, a lost node), the
kernel closes its socket, PostgreSQL ends the session and the lock is free at once, so the next
timer tick of any replica takes the job over. A connection that breaks while the process lives
(a database restart) loses its locks too: the job may then be taken by another replica while
this one finishes it, so every job still has to be finished by a compare-and-set on its row
(e.g. signing's "status is not yet signed") — the lock makes double work rare, the row makes it
harmless.

One `ClaimLocks` per process and engine (built in a DependencyProvider's `setup()`); keys are
namespaced (`signing.document:<id>`) and hashed to the two-int4 advisory key space (class from
the namespace, object from the id), which never overlaps the one-bigint keys used elsewhere."""

from __future__ import annotations

import threading
import zlib

from shared.logging import get_logger

log = get_logger(__name__)


def _int4(value: str) -> int:
    """A stable signed 32-bit number for `value` (crc32, shifted into int4's range)."""
    return zlib.crc32(value.encode()) - 2**31


class ClaimLocks:
    """Session advisory locks on one dedicated connection of `engine` (opened on first use,
    opened again after it broke). Safe to call from several greenthreads or threads."""

    def __init__(self, engine, namespace: str):
        self.engine = engine
        self.namespace = namespace
        self.classid = _int4(namespace)
        self._conn = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def _key(self, key: str) -> tuple[int, int]:
        return self.classid, _int4(key)

    def _connection(self):
        if self._conn is None:
            conn = self.engine.raw_connection()
            # a pooled connection's session is its own for as long as we keep it checked out
            conn.driver_connection.autocommit = True
            self._conn = conn
        return self._conn

    def _run(self, sql: str, key: str):
        try:
            with self._connection().driver_connection.cursor() as cur:
                cur.execute(sql, self._key(key))
                return cur.fetchone()[0]
        except Exception:
            self._drop()
            raise

    def _drop(self) -> None:
        """The connection broke: every lock it held is gone with it."""
        if self._held:
            log.warning("claim_locks_lost", namespace=self.namespace, held=len(self._held))
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # noqa: BLE001, S110 - it is broken already
                pass

    def try_claim(self, key: str) -> bool:
        """Take the claim on `key` unless another process (or this one) holds it."""
        with self._mutex:
            if key in self._held:
                return False
            if self._run("SELECT pg_try_advisory_lock(%s, %s)", key):
                self._held.add(key)
                return True
            return False

    def release(self, key: str) -> None:
        """Give the claim back (a no-op if it was not held or its connection broke)."""
        with self._mutex:
            if key not in self._held:
                return
            self._held.discard(key)
            try:
                self._run("SELECT pg_advisory_unlock(%s, %s)", key)
            except Exception as exc:  # noqa: BLE001 - the lock went with the connection
                log.warning("claim_not_released", namespace=self.namespace, error=repr(exc))

    def holds(self, key: str) -> bool:
        return key in self._held

    def close(self) -> None:
        """Close the connection itself (never back into the pool: its locks would go with
        it), releasing every claim."""
        with self._mutex:
            self._held.clear()
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.invalidate()
                except Exception:  # noqa: BLE001, S110 - closing on the way out
                    pass
