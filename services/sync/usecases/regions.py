"""A region onboarded by an administrator, and its HMAC keys: added, retired, listed. A key's
secret is generated here, shown once in the answer and stored only sealed (KeyBox). Rotation
without downtime: add a key, move the region's client to it, retire the old one; both verify
during the overlap (docs/operations.md)."""

from __future__ import annotations

import secrets

from services.sync import domain
from services.sync.exceptions import (
    KeyLimitReached,
    LastKey,
    RegionAlreadyOnboarded,
    RegionUnknown,
)
from services.sync.usecases import STREAM_TYPE, iso, stream
from shared.errors import NotFound
from shared.eventstore import ANY_VERSION, NO_STREAM, NewEvent


def _new_key(uow, settings, region: str) -> tuple[str, str, str]:
    """(key id, secret, created_at) of a fresh active key of `region`."""
    key_id = f"{region}-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    created = uow.execute(
        "INSERT INTO region_keys (key_id, region, sealed_secret, status) "
        "VALUES (:k, :r, :s, 'active') RETURNING created_at",
        {"k": key_id, "r": region, "s": settings.box.seal(secret)}).scalar_one()
    return key_id, secret, iso(created)


def lock(uow, region: str) -> dict:
    """The region's row, locked for this transaction (RegionUnknown if not onboarded)."""
    row = uow.execute("SELECT * FROM regions WHERE code = :c FOR UPDATE",
                      {"c": str(region)[:8]}).mappings().first()
    if row is None:
        raise RegionUnknown(f"daerah {str(region)[:8]} belum terdaftar untuk sinkronisasi",
                            field="region")
    return dict(row)


def onboard(uow, actor, settings, data: dict) -> dict:
    """Register a kabupaten/kota with its first key; the secret is in this answer only."""
    actor.require("administrator")
    region = data["region"]
    name = domain.regions()[region]
    inserted = uow.execute("INSERT INTO regions (code, name) VALUES (:c, :n) "
                           "ON CONFLICT (code) DO NOTHING RETURNING code",
                           {"c": region, "n": name}).first()
    if inserted is None:
        raise RegionAlreadyOnboarded(f"{name} sudah terdaftar; tambahkan kunci bila perlu",
                                     field="region")
    key_id, secret, created = _new_key(uow, settings, region)
    uow.append(stream(region), STREAM_TYPE, NO_STREAM, [NewEvent("RegionOnboarded", {
        "region": region, "name": name, "key_id": key_id, "reason": data["reason"]})],
        reason=data["reason"])
    return {"region": region, "key_id": key_id, "secret": secret, "created_at": created}


def add_key(uow, actor, settings, region: str, reason: str) -> dict:
    """A further key for the overlap of a rotation (at most MAX_ACTIVE_KEYS active)."""
    actor.require("administrator")
    lock(uow, region)
    active = uow.execute("SELECT count(*) FROM region_keys WHERE region = :r AND "
                         "status = 'active'", {"r": region}).scalar_one()
    if active >= domain.MAX_ACTIVE_KEYS:
        raise KeyLimitReached(f"sudah {active} kunci aktif; cabut yang lama dahulu",
                              field="key_id")
    key_id, secret, created = _new_key(uow, settings, region)
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("RegionKeyAdded", {
        "region": region, "key_id": key_id, "reason": reason})], reason=reason)
    return {"region": region, "key_id": key_id, "secret": secret, "created_at": created}


def retire_key(uow, actor, region: str, key_id: str, reason: str) -> dict:
    """From now on the key verifies nothing; the last active key of a region stays."""
    actor.require("administrator")
    lock(uow, region)
    key = uow.execute("SELECT status FROM region_keys WHERE key_id = :k AND region = :r",
                      {"k": str(key_id)[:80], "r": region}).first()
    if key is None:
        raise NotFound("kunci tidak ditemukan untuk daerah ini", field="key_id")
    if key[0] == "active":
        others = uow.execute("SELECT count(*) FROM region_keys WHERE region = :r AND "
                             "status = 'active' AND key_id <> :k",
                             {"r": region, "k": key_id}).scalar_one()
        if others == 0:
            raise LastKey("tambahkan kunci baru sebelum mencabut kunci aktif terakhir",
                          field="key_id")
        uow.execute("UPDATE region_keys SET status = 'retired', retired_at = now() "
                    "WHERE key_id = :k", {"k": key_id})
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("RegionKeyRetired", {
            "region": region, "key_id": key_id, "reason": reason})], reason=reason)
    return next(k for k in keys(uow, actor, region) if k["key_id"] == key_id)


def keys(uow, actor, region: str) -> list[dict]:
    """A region's keys, without their secrets (administrators and auditors)."""
    actor.require("administrator", "auditor")
    if uow.execute("SELECT 1 FROM regions WHERE code = :c", {"c": str(region)[:8]}).first() \
            is None:
        raise RegionUnknown("daerah belum terdaftar", field="region")
    rows = uow.execute("SELECT key_id, status, created_at, retired_at FROM region_keys "
                       "WHERE region = :r ORDER BY created_at", {"r": region}).mappings().all()
    return [{"key_id": r["key_id"], "status": r["status"], "created_at": iso(r["created_at"]),
             "retired_at": iso(r["retired_at"])} for r in rows]
