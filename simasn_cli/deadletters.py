"""`simasn deadletters list|retry|discard`: events their consumers could not handle."""

from __future__ import annotations

import click

from shared import SERVICES
from simasn_cli.common import (
    Environment,
    connect,
    parse_letter,
    pass_env,
    print_json,
    service_option,
)
from simasn_cli.deploy import operator_name


@click.group()
def deadletters() -> None:
    """Events their consumers could not handle."""


@deadletters.command("list")
@service_option
@click.option("--all", "everything", is_flag=True, help="include retried and discarded")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines")
@pass_env
def list_letters(env: Environment, services: tuple[str, ...], everything: bool,
                 as_json: bool) -> int:
    """The parked events (and, with --all, what was done with earlier ones)."""
    from shared import audit
    from shared import deadletters as letters

    conn = connect(env.config.database_url)
    try:
        rows = []
        for schema in audit.existing_schemas(conn, services or SERVICES):
            rows += letters.list_dead_letters(conn, schema, None if everything else "parked")
    finally:
        conn.close()
    if as_json:
        print_json(rows)
        return 0
    for r in rows:
        click.echo(f"{r['service']}:{r['id']}  {r['status']:9} {r['consumer']}  "
                   f"{r['source']}#{r['position']} {r['event_type']}  "
                   f"attempts={r['attempts']}  {r['error_type']}: {r['error'][:120]}")
    click.echo(f"{len(rows)} dead letter(s)")
    return 0


@deadletters.command()
@click.argument("letter", metavar="SERVICE:ID")
@pass_env
def retry(env: Environment, letter: str) -> int:
    """Publish the event to its consumer's queue again (after the cause is fixed)."""
    from shared import deadletters as letters

    schema, letter_id = parse_letter(letter)
    conn = connect(env.config.database_url)
    try:
        queue = letters.retry_dead_letter(conn, schema, letter_id, env.config.amqp_uri,
                                          operator_name())
    finally:
        conn.close()
    click.echo(f"{schema}:{letter_id} republished to {queue}")
    return 0


@deadletters.command()
@click.argument("letter", metavar="SERVICE:ID")
@click.option("--reason", required=True, help="why it is dropped (recorded)")
@pass_env
def discard(env: Environment, letter: str, reason: str) -> int:
    """Drop the event for good, with the reason."""
    from shared import deadletters as letters

    schema, letter_id = parse_letter(letter)
    conn = connect(env.config.database_url)
    try:
        letters.discard_dead_letter(conn, schema, letter_id, operator_name(), reason)
    finally:
        conn.close()
    click.echo(f"{schema}:{letter_id} discarded")
    return 0
