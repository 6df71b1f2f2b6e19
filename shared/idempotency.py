"""Idempotency-Key: a state-changing call repeated with the same key answers what the first one
did, instead of doing it again or refusing it.

A client whose answer was lost (the connection dropped, the gateway was restarted after the
service had committed) cannot tell whether its `submit` happened. It sends the call again with
the same `Idempotency-Key` header; the gateway passes the key to the service in the Nameko
context (`shared.context.IDEMPOTENCY_KEY`), and the service's use case runs through `once`:

- in the transaction that makes the change, (caller, key) → the answer is recorded in the
  service's `idempotency_keys` table, so a change is never recorded without its answer nor an
  answer without its change;
- a repeat from the same caller with the same key and the same request (operation and
  arguments) answers the recorded answer, without running the use case again;
- the same key with a different request is refused: 409 `idempotency_key_reused`;
- two calls with the same key at once are serialised on a transaction lock: the second waits
  for the first to commit, then answers its answer;
- a call that failed recorded nothing (its transaction rolled back): repeating it runs it again.

Keys are per caller: another account's key never answers for yours. The key applies to the call
the gateway made; the service does not pass it on to the calls it makes itself (its
RequestContext removes it), since those are derived from the state of the moment, not repeated
by the client."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from shared.errors import IdempotencyKeyReused
from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


def fingerprint(operation: str, request: Any) -> str:
    """A digest of what was asked: the operation and its arguments, key order ignored."""
    canonical = orjson.dumps([operation, request], default=str,
                             option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def once(uow, operation: str, request: Any, perform: Callable[[], T],
         key: str | None = None) -> T:
    """Run `perform()` (the use case, in `uow`'s transaction) unless this caller already did
    this with this Idempotency-Key; answer what it answered then. `key` stands in when the
    client sent none in the header (e.g. a key in the request body)."""
    key = uow.idempotency_key or key
    if not key or not uow.caller:
        return perform()
    digest = fingerprint(operation, request)
    uow.execute("SELECT pg_advisory_xact_lock(hashtext(:scope))",
                {"scope": f"idempotency|{uow.caller}|{key}"})
    row = uow.execute("SELECT operation, fingerprint, answer::text FROM idempotency_keys "
                      "WHERE caller = :c AND key = :k", {"c": uow.caller, "k": key}).first()
    if row is not None:
        if row[1] != digest:
            log.warning("idempotency_key_reused", operation=operation, first=row[0])
            raise IdempotencyKeyReused()
        log.info("idempotent_replay", operation=operation)
        return orjson.loads(row[2])
    answer = perform()
    uow.execute("INSERT INTO idempotency_keys (caller, key, operation, fingerprint, answer) "
                "VALUES (:c, :k, :o, :f, CAST(:a AS jsonb))",
                {"c": uow.caller, "k": key, "o": operation, "f": digest,
                 "a": orjson.dumps(answer, default=str).decode()})
    return answer
