"""`simasn db-roles`: each service's database login role (shared/dbroles.py)."""

from __future__ import annotations

import os

import click

from shared import SERVICES
from shared.dbroles import foreign_privileges, set_passwords
from simasn_cli.common import Environment, connect, pass_env


def password_env(service: str) -> str:
    return f"SIMASN_DB_PASSWORD_{service.upper()}"


@click.command("db-roles")
@click.option("--check", is_flag=True,
              help="only report privileges a service's role holds on another service's schema")
@pass_env
def db_roles(env: Environment, check: bool) -> int:
    """Set each service role's password from SIMASN_DB_PASSWORD_<SERVICE> (those given; run
    after `simasn migrate`, which creates the roles and their grants), then check that no role
    reaches another service's schema (exit 2 if one does). Needs the owner's DATABASE_URL."""
    if not check:
        passwords = {s: os.environ[password_env(s)] for s in SERVICES
                     if os.environ.get(password_env(s))}
        conn = connect(env.config.database_url)
        try:
            with conn, conn.cursor() as cur:
                for role in set_passwords(cur, passwords, env.config.db_role_prefix):
                    click.echo(f"{role}: login, password set")
        finally:
            conn.close()
    return check_roles(env)


def check_roles(env: Environment) -> int:
    """Report every privilege a service's role holds on another service's schema: 2 if any."""
    conn = connect(env.config.database_url)
    try:
        with conn, conn.cursor() as cur:
            found = foreign_privileges(cur, env.config.db_role_prefix)
    finally:
        conn.close()
    for role, schema, table, privilege in found:
        click.echo(f"{role} has {privilege} on {schema}.{table}", err=True)
    if found:
        return 2
    click.echo("no service role reaches another service's schema (besides the checkpoint reads)")
    return 0
