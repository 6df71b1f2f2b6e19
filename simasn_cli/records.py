"""`simasn records check|rebuild`: the employees projection against the records log."""

from __future__ import annotations

import click

from simasn_cli.common import Environment, connect, pass_env, role_url


@click.group()
def records() -> None:
    """The employees projection against the records log."""


@records.command()
@pass_env
def check(env: Environment) -> int:
    """Replay every employee and compare with the stored row; exit 2 on a difference."""
    from services.records import projection

    conn = connect(role_url(env.config, "records"))
    try:
        report = projection.check(conn)
    finally:
        conn.close()
    for nip, keys in report.mismatched:
        click.echo(f"MISMATCH {nip}: {', '.join(keys)}")
    for nip in report.missing:
        click.echo(f"MISSING  {nip}: in the log, no stored record")
    for nip in report.orphaned:
        click.echo(f"ORPHAN   {nip}: stored record without events")
    if report.ok:
        click.echo(f"records: OK, replay equals the stored record for all {report.checked} "
                   "employees")
        return 0
    click.echo("records: run `simasn records rebuild` to re-derive the stored records")
    return 2


@records.command()
@click.option("--nip", "nips", multiple=True, help="only this NIP (repeatable)")
@pass_env
def rebuild(env: Environment, nips: tuple[str, ...]) -> int:
    """Re-derive stored rows from the log."""
    from services.records import projection

    conn = connect(role_url(env.config, "records"))
    try:
        written = projection.rebuild(conn, nips=set(nips) if nips else None)
    finally:
        conn.close()
    click.echo(f"records: {written} stored record(s) re-derived from the log")
    return 0
