"""What several command groups share: the loaded configuration, database connections, JSON
output, the time and dead-letter arguments, and the trust roots of signed checkpoints."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import click
import psycopg2

from shared import SERVICES
from shared.config import (
    ServiceConfig,
    from_environment,
    load_default_env_file,
    load_yaml,
    with_user,
)
from shared.errors import ConfigError, ValidationFailed
from shared.logging import configure_logging

#: `--service` on every command that can be narrowed to some logs
service_option = click.option("--service", "services", multiple=True,
                              type=click.Choice(SERVICES),
                              help="only this service's log (repeatable)")
#: `--progress/--no-progress`: a bar on stderr (default: when stderr is a terminal)
progress_option = click.option("--progress/--no-progress", default=None,
                               help="show a progress bar (default: when stderr is a terminal)")


class Environment:
    """The process's configuration, read once and only by the commands that need it (`keys`
    and `pki` run without one)."""

    def __init__(self) -> None:
        self._config: ServiceConfig | None = None

    @property
    def config(self) -> ServiceConfig:
        if self._config is None:
            # what `make up` wrote (.run/secrets.env): nobody has to source it by hand
            load_default_env_file()
            self._config = from_environment()
            configure_logging("cli", self._config.log_level)
        return self._config


pass_env = click.make_pass_decorator(Environment, ensure=True)


def connect(url: str):
    return psycopg2.connect(url, application_name="simasn-cli")


def auditor_url(config: ServiceConfig) -> str:
    if not config.db_role_per_service:
        return config.database_url
    return with_user(config.database_url, config.db_role_prefix + "auditor")


def role_url(config: ServiceConfig, service: str) -> str:
    """The database URL as the service's own role (what its processes connect as)."""
    if not config.db_role_per_service:
        return config.database_url
    return with_user(config.database_url, config.db_role_prefix + service)


def print_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def parse_letter(ref: str) -> tuple[str, int]:
    service, _, number = ref.partition(":")
    if service not in SERVICES or not number.isdigit():
        raise ValidationFailed("give a dead letter as SERVICE:ID, e.g. records:12", field="id")
    return service, int(number)


def parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-30T10:00:00+07:00", field="as_of"
        ) from None
    if value.tzinfo is None:
        raise ValidationFailed("give the time zone too, e.g. +07:00 for WIB", field="as_of")
    return value


def raw_config() -> dict:
    path = os.environ.get("SIMASN_CONFIG", "config.yaml")
    return load_yaml(path) if os.path.exists(path) else {}


def keystore_dir_from_config() -> str:
    """SIGNING_KEYSTORE_DIR as the services read it (config.yaml and the environment)."""
    return str(raw_config().get("SIGNING_KEYSTORE_DIR") or "var/keystore")


trust_roots_option = click.option(
    "--trust-roots", multiple=True, metavar="PEM",
    help="root certificate the checkpoints' seal must chain to (repeatable; default "
         "SIMASN_SIGNING_TRUST_ROOTS, else the signing key store's root certificates)")


def trust_root_paths(given: tuple[str, ...]) -> list[str]:
    """Where the certificates a checkpoint's seal must chain to come from: --trust-roots, else
    SIMASN_SIGNING_TRUST_ROOTS (PEM files separated by the path separator), else the trust
    roots listed in the signing key store's index (SIGNING_KEYSTORE_DIR as the services read
    it: where `simasn pki init` and `make up` put it) — only its public root certificates."""
    if given:
        return list(given)
    listed = os.environ.get("SIMASN_SIGNING_TRUST_ROOTS")
    if listed:
        return [path for path in listed.split(os.pathsep) if path]
    index = Path(keystore_dir_from_config()) / "keystore.json"
    try:
        names = json.loads(index.read_text(encoding="utf-8")).get("trust_roots") or []
    except (OSError, ValueError, AttributeError):
        names = []
    if not names:
        raise ConfigError(
            "signed checkpoints need the signing CA's root certificate, and the signing key "
            f"store's index {index.absolute()} (SIGNING_KEYSTORE_DIR) names none; give "
            "--trust-roots FILE.pem, set SIMASN_SIGNING_TRUST_ROOTS=FILE.pem, or set "
            "SIMASN_SIGNING_KEYSTORE_DIR to the key store's directory",
            field="trust_roots")
    return [str(index.parent / name) for name in names]


def signature_judge(given: tuple[str, ...]):
    """verify(payload) -> (ok, reason) against the trust roots, loaded at the first use (a log
    without checkpoints needs none)."""
    from services.signing import checkpoints

    roots: list = []

    def verify(payload: dict) -> tuple[bool, str]:
        if not roots:
            roots.extend(checkpoints.load_trust_roots(trust_root_paths(given)))
        return checkpoints.verify_signature(payload, roots)

    return verify
