"""People: `simasn admin create` (the first administrator of a new installation) and
`simasn seed demo` (a demo province through identity's and records' own use cases)."""

from __future__ import annotations

import getpass
import os
import sys

import click

from shared.errors import ConfigError, ValidationFailed
from simasn_cli.common import Environment, pass_env, progress_option

#: identity's own config keys, read from SIMASN_<KEY> when no SIMASN_CONFIG file is given
IDENTITY_KEYS = ("TOKEN_SIGNING_KEY", "SECRET_ENCRYPTION_KEY")
IDENTITY_OPTIONAL_KEYS = ("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "RESET_TOKEN_TTL",
                          "LOGIN_THROTTLE_FREE_ATTEMPTS", "LOGIN_THROTTLE_BASE_SECONDS",
                          "LOGIN_THROTTLE_MAX_SECONDS", "ARGON2_TIME_COST",
                          "ARGON2_MEMORY_KIB", "NOTIFICATION_OUTBOX")


def identity_config(environ: dict | None = None) -> dict:
    """The config mapping the identity service would get: the yaml file named by
    SIMASN_CONFIG, else the SIMASN_* variables. Its keys must be the running service's own
    (TOTP secrets are sealed with SECRET_ENCRYPTION_KEY), so a missing one fails, named."""
    from shared.config import load_yaml

    env = os.environ if environ is None else environ
    path = env.get("SIMASN_CONFIG")
    if path:
        raw = load_yaml(path, env)
    else:
        raw = {key: env[f"SIMASN_{key}"] for key in IDENTITY_KEYS + IDENTITY_OPTIONAL_KEYS
               if env.get(f"SIMASN_{key}")}
    for key in IDENTITY_KEYS:
        if not raw.get(key):
            raise ConfigError(
                f"SIMASN_{key} is not set; give the identity service's own value (`make up` "
                "writes it to .run/secrets.env, which simasn reads when run from the project "
                "directory; SIMASN_ENV_FILE names another file)", field=key)
    return raw


@click.group()
def admin() -> None:
    """Administrator accounts for a new installation."""


@admin.command()
@click.option("--username", required=True)
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--reason", default="administrator pertama instalasi SIMASN", show_default=True)
@click.option("--pact-reference", default=None,
              help="the reference of the integrity pact (pakta integritas) the administrator "
                   "signed on paper, e.g. its agenda number")
@click.option("--password-stdin", is_flag=True,
              help="read the password from the first line of standard input")
@pass_env
def create(env: Environment, username: str, name: str, email: str, reason: str,
           pact_reference: str | None, password_stdin: bool) -> int:
    """Create an administrator with password and TOTP (the secret is shown once) and the
    integrity pact they signed on paper (recorded with its reference)."""
    import pyotp

    from services.identity.security import totp_uri
    from services.identity.usecases.bootstrap import Bootstrap

    config = env.config
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Kata sandi administrator: ")
        if getpass.getpass("Ulangi kata sandi: ") != password:
            raise ValidationFailed("kedua kata sandi tidak sama", field="password")
    bootstrap = Bootstrap(config, identity_config(), actor=f"operator:{getpass.getuser()}")
    try:
        if bootstrap.exists(username):
            raise ValidationFailed(f"akun {username} sudah ada", field="username")
        secret = pyotp.random_base32()
        bootstrap.create({"login": username, "display_name": name, "email": email,
                          "roles": ["administrator"], "reason": reason,
                          "pact_reference": pact_reference}, password,
                         totp_secret=secret)
    finally:
        bootstrap.close()
    click.echo(f"administrator {username} dibuat.")
    click.echo("Tambahkan ke aplikasi autentikator (ditampilkan sekali ini saja):")
    click.echo(f"  {totp_uri(secret, username)}")
    return 0


@click.group()
def seed() -> None:
    """Demo data."""


@seed.command()
@click.option("--seed", "seed_number", type=int, default=2026, show_default=True,
              help="same seed, same people")
@click.option("--pegawai", type=click.IntRange(0), default=300, show_default=True,
              help="how many pegawai")
@progress_option
@pass_env
def demo(env: Environment, seed_number: int, pegawai: int, progress: bool | None) -> int:
    """A demo province: administrator, auditor, fasilitators of a few OPDs, pegawai with
    realistic names and NIPs and their records. Credentials go to stdout only."""
    from services.identity.usecases import seed as identity_seed
    from services.identity.usecases.bootstrap import Bootstrap
    from services.records.seed import seed_records
    from shared.progress import Progress

    config = env.config
    raw = identity_config()
    accounts = identity_seed.plan(seed_number, pegawai)
    bootstrap = Bootstrap(config, raw)
    bar = Progress("pegawai", sum("pegawai" in a.roles for a in accounts), enabled=progress)
    try:
        report = identity_seed.seed_demo(bootstrap, accounts, on_pegawai=bar.advance)
    finally:
        bar.close()
        bootstrap.close()
    people = [(a.login, a.display_name, a.home_opd) for a in accounts if "pegawai" in a.roles]
    bar = Progress("data pegawai", len(people), enabled=progress)
    try:
        created, existing = seed_records(config.service_database_url("records"), people,
                                         on_each=bar.advance)
    finally:
        bar.close()
    click.echo("\n".join(identity_seed.summary(report, seed_number, raw)))
    click.echo(f"Employee records: {created} registered with their histories, {existing} "
               "already there.")
    return 0
