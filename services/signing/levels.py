"""Which PAdES level each document is signed at, from config (validated at start-up):
SIGNING_PADES_LEVEL is the default (empty: B-LTA when a TSA is configured, else B-B) and
SIGNING_PADES_LEVELS overrides it per document (`PENSIUN=B-LTA,KARPEG=B-T`: a layanan code or
a document type). A level that needs a TSA without one configured fails at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.signing.ltv import LEVELS
from shared.errors import ConfigError


@dataclass(frozen=True)
class Levels:
    default: str
    by_document: dict = field(default_factory=dict)

    def level_for(self, document_key: str, document_type: str | None = None) -> str:
        return (self.by_document.get(document_key)
                or (self.by_document.get(document_type) if document_type else None)
                or self.default)


def _level(value: str, key: str, tsa_url: str | None) -> str:
    level = value.strip().upper()
    if level not in LEVELS:
        raise ConfigError(f"{key}: tingkat PAdES {value!r} tidak dikenal (B-B, B-T, B-LT, "
                          "B-LTA)", field=key)
    if level != "B-B" and not tsa_url:
        raise ConfigError(f"{key}: {level} memerlukan SIGNING_TSA_URL", field=key)
    return level


def levels_from_config(config: dict, tsa_url: str | None) -> Levels:
    given = str(config.get("SIGNING_PADES_LEVEL") or "").strip()
    default = (_level(given, "SIGNING_PADES_LEVEL", tsa_url) if given
               else ("B-LTA" if tsa_url else "B-B"))
    by_document = {}
    for item in str(config.get("SIGNING_PADES_LEVELS") or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"SIGNING_PADES_LEVELS: {item!r} bukan JENIS=TINGKAT",
                              field="SIGNING_PADES_LEVELS")
        by_document[name.strip()] = _level(value, "SIGNING_PADES_LEVELS", tsa_url)
    return Levels(default, by_document)


def seconds(config: dict, key: str, default: float) -> float:
    try:
        value = float(config.get(key) if config.get(key) not in (None, "") else default)
        if value <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{key} harus angka positif", field=key) from None
    return value


def flag(config: dict, key: str) -> bool:
    value = str(config.get(key) or "false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{key} harus true atau false", field=key)
    return value in ("true", "1", "yes")
