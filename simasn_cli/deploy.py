"""Deploying: `simasn migrate` (once per deployment), `simasn keys` (fresh secrets),
`simasn broker setup|remove|uri` (per-process RabbitMQ users) and `simasn health`."""

from __future__ import annotations

import getpass
import os
import time

import click

from shared import SERVICES
from shared.errors import ValidationFailed
from simasn_cli.common import Environment, pass_env, print_json, service_option


@click.command()
@click.option("--skip-broker", is_flag=True, help="leave the broker topology alone")
@click.option("--broker-users", is_flag=True,
              help="also create each process's RabbitMQ user (as `simasn broker setup`)")
@pass_env
@click.option("--check-roles", is_flag=True,
              help="then fail (exit 2) if a service's role reaches another service's schema")
def migrate(env: Environment, skip_broker: bool, broker_users: bool, check_roles: bool) -> int:
    """Schemas, roles and broker topology (once per deployment)."""
    from services.registry import service_classes
    from shared.migrations import migrate as run_migrations
    from shared.topology import declare

    applied = run_migrations(env.config.database_url, env.config.db_role_prefix)
    for name in applied:
        click.echo(f"applied {name}")
    click.echo(f"database up to date ({len(applied)} migrations applied)")
    if check_roles:
        from simasn_cli.dbroles import check_roles as check

        if check(env) != 0:
            return 2
    if not skip_broker:
        declared = declare(env.config.amqp_uri, list(service_classes().values()))
        click.echo(f"broker topology declared ({len(declared)} exchanges and queues)")
        if broker_users:
            return _broker_setup(env)
    return 0


@click.command()
def keys() -> int:
    """Fresh keys and broker passwords as environment lines.

    Identity keys, caller-token keys and a broker password per process, for
    .run/secrets.env or a Kubernetes Secret."""
    import secrets

    from cryptography.fernet import Fernet

    from shared import brokerauth
    from shared.callers import dev_keys

    click.echo(f"SIMASN_TOKEN_SIGNING_KEY={secrets.token_urlsafe(48)}")
    click.echo(f"SIMASN_SECRET_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
    click.echo(f"SIMASN_SYNC_KEY_SEAL_KEY={Fernet.generate_key().decode()}")
    for key, value in dev_keys().items():
        click.echo(f"SIMASN_{key}={value}")
    for process, password in brokerauth.new_passwords().items():
        click.echo(f"{brokerauth.env_name(process)}={password}")
    return 0


def broker_passwords(environ=None) -> dict[str, str]:
    from shared import brokerauth

    env = os.environ if environ is None else environ
    missing = [brokerauth.env_name(p) for p in brokerauth.processes()
               if not env.get(brokerauth.env_name(p))]
    if missing:
        raise ValidationFailed(f"set {', '.join(missing)} (simasn keys prints them)",
                               field=missing[0])
    return {p: env[brokerauth.env_name(p)] for p in brokerauth.processes()}


def _user_prefix() -> str:
    return os.environ.get("SIMASN_BROKER_USER_PREFIX", "simasn-")


def _management(env: Environment):
    from urllib.parse import unquote, urlsplit

    from shared import brokerauth

    parts = urlsplit(env.config.amqp_uri)
    return brokerauth.Management(
        os.environ.get("SIMASN_RABBIT_MANAGEMENT_URL",
                       f"http://{parts.hostname or '127.0.0.1'}:15672"),
        unquote(parts.username or "guest"), unquote(parts.password or "guest"))


def _broker_setup(env: Environment) -> int:
    from services.registry import service_classes
    from shared import brokerauth

    vhost = brokerauth.vhost_of(env.config.amqp_uri)
    grants = brokerauth.apply(_management(env), vhost, broker_passwords(), service_classes(),
                              _user_prefix())
    for grant in grants:
        click.echo(f"{grant.user}: permissions on vhost {vhost!r} set "
                   f"({len(grant.topics)} topic exchange(s) restricted)")
    return 0


@click.group()
def broker() -> None:
    """Per-process RabbitMQ users and their permissions.

    Applied (shared/brokerauth.py) as the vhost's administrator login of SIMASN_AMQP_URI
    through the management API."""


@broker.command()
@pass_env
def setup(env: Environment) -> int:
    """Create/update every process's user and its permissions on the vhost."""
    return _broker_setup(env)


@broker.command()
@pass_env
def remove(env: Environment) -> int:
    """Delete the users."""
    from shared import brokerauth

    brokerauth.remove(_management(env), _user_prefix())
    click.echo(f"removed the users {_user_prefix()}*")
    return 0


@broker.command()
@click.argument("code")
@click.option("--remove", "delete", is_flag=True, help="delete the region's user instead")
@pass_env
def region(env: Environment, code: str, delete: bool) -> int:
    """A kabupaten/kota's broker identity for the AMQP push (docs/design/sync.md).

    Declares its exchange sync.region.<CODE>, binds sync's batch queue to it, and creates (or
    gives a new password to) the user <prefix>region-<CODE>, which may only publish there.
    The password is printed once: hand it to the region with its HMAC key."""
    import secrets

    from services.sync.domain import regions
    from shared import brokerauth

    if code not in regions():
        raise ValidationFailed(f"{code} is not a kabupaten/kota code (3501..3579)",
                               field="code")
    if delete:
        brokerauth.remove_region(_management(env), code, _user_prefix())
        click.echo(f"removed the user {_user_prefix()}region-{code}")
        return 0
    password = secrets.token_urlsafe(24)
    vhost = brokerauth.vhost_of(env.config.amqp_uri)
    grant = brokerauth.apply_region(_management(env), vhost, code, password, _user_prefix())
    click.echo(f"{grant.user}: may publish only on {brokerauth.region_exchange(code)} "
               f"(vhost {vhost!r})")
    click.echo(f"password (shown once): {password}")
    return 0


@broker.command()
@click.argument("process")
@pass_env
def uri(env: Environment, process: str) -> int:
    """The AMQP URI one process connects with."""
    from shared import brokerauth

    if process not in brokerauth.processes():
        raise ValidationFailed(f"unknown process {process}", field="process")
    click.echo(brokerauth.uri_for(env.config.amqp_uri, _user_prefix() + process,
                                  broker_passwords()[process]))
    return 0


@click.command()
@service_option
@click.option("--wait", type=float, default=0, help="keep asking this many seconds")
@pass_env
def health(env: Environment, services: tuple[str, ...], wait: float) -> int:
    """Ask every service's health RPC.

    Exit 1 while one does not answer (after --wait seconds)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + wait
    pending = list(services or SERVICES)
    answers: dict = {}
    with ClusterRpcProxy({"AMQP_URI": env.config.amqp_uri}, timeout=5) as cluster:
        while True:
            for service in list(pending):
                try:
                    answers[service] = getattr(cluster, service).health()
                    pending.remove(service)
                except Exception as exc:  # noqa: BLE001 - report, keep asking
                    answers[service] = {"status": "down", "error": type(exc).__name__}
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
    print_json(answers)
    return 1 if pending else 0


def operator_name() -> str:
    """Who runs the command, for the events and dead-letter decisions it records."""
    return os.environ.get("SIMASN_OPERATOR") or getpass.getuser()
