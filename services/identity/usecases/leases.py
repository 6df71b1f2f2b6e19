"""Leases of caching gateway replicas (`session_cache_leases`): a replica serves sessions from
its cache only while it holds one. Renewing reports the recent session fences, so a replica that
missed an announcement notices and empties its cache. The protocol is in
services/identity/fences.py."""

from __future__ import annotations

#: fences older than this many lease periods are no longer reported on renewal
REPORTED_PERIODS = 3
#: fences are deleted after this long (they only matter for a few lease periods)
FENCE_RETENTION = "1 hour"


def renew(uow, holder: str, scope: str, lease_seconds: int) -> dict:
    """Grant or extend `holder`'s lease; report the recent fences so it can check none was lost."""
    uow.execute(
        "INSERT INTO session_cache_leases (holder, scope, expires_at) VALUES "
        "(CAST(:h AS uuid), :s, now() + make_interval(secs => :l)) ON CONFLICT (holder) DO "
        "UPDATE SET scope = excluded.scope, expires_at = excluded.expires_at",
        {"h": holder, "s": scope, "l": lease_seconds})
    fences = uow.execute(
        "SELECT fence_id FROM session_fences WHERE created_at > now() - make_interval(secs => :w) "
        "ORDER BY fence_id", {"w": lease_seconds * REPORTED_PERIODS}).scalars().all()
    uow.execute("DELETE FROM session_fences WHERE created_at < now() - "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                f"interval '{FENCE_RETENTION}'")
    uow.execute("DELETE FROM session_cache_leases WHERE expires_at < now() - interval '1 hour'")
    return {"lease_seconds": lease_seconds, "fences": list(fences)}


def release(uow, holder: str) -> None:
    """A replica that stops caching gives its lease back: access changes stop waiting for it."""
    uow.execute("DELETE FROM session_cache_leases WHERE holder = CAST(:h AS uuid)", {"h": holder})
