"""`simasn projections status|rebuild`: how far each consumer has read each source log, and
one read model rebuilt from zero (shared/subscriptions.py, shared/projections_admin.py)."""

from __future__ import annotations

import click

from shared import SERVICES
from simasn_cli.common import Environment, connect, pass_env, print_json, progress_option


def _declared():
    from services.registry import service_classes
    from shared import projections_admin

    return projections_admin.declared_projections(service_classes())


@click.group()
def projections() -> None:
    """Consumers' positions in the logs they read; rebuilding a read model."""


@projections.command()
@click.option("--json", "as_json", is_flag=True, help="JSON, with service, time and rebuildable")
@click.option("--stall-seconds", type=float, default=300, show_default=True,
              help="behind and unmoved this long: STALLED")
@pass_env
def status(env: Environment, as_json: bool, stall_seconds: float) -> int:
    """Position, source head and lag per consumer and source; STALLED where one is behind and
    has not moved for --stall-seconds (also said on stderr)."""
    from shared import audit, projections_admin

    conn = connect(env.config.database_url)
    try:
        rows = projections_admin.status(conn, audit.existing_schemas(conn, SERVICES),
                                        _declared(), stall_seconds)
    finally:
        conn.close()
    for r in rows:
        if r["stalled"]:
            click.echo(f"{r['consumer']} is stalled: {r['lag']} event(s) of {r['source']} "
                       f"behind, unmoved since {r['updated_at']:%Y-%m-%d %H:%M:%S %z}", err=True)
    if as_json:
        print_json(rows)
        return 0
    click.echo(f"{'CONSUMER':28} {'SOURCE':13} {'POSITION':>9} {'HEAD':>9} {'LAG':>7}")
    for r in rows:
        shown = "-" if r["position"] is None else r["position"]
        click.echo(f"{r['consumer']:28} {r['source']:13} {shown:>9} "
                   f"{'-' if r['head'] is None else r['head']:>9} "
                   f"{'-' if r['lag'] is None else r['lag']:>7}"
                   + ("  STALLED" if r["stalled"] else ""))
    return 0


@projections.command()
@click.argument("name")
@click.option("--wait", type=float, default=600, show_default=True,
              help="seconds to follow the replay; it goes on regardless")
@progress_option
@pass_env
def rebuild(env: Environment, name: str, wait: float, progress: bool | None) -> int:
    """Empty one read model and replay it from zero.

    NAME is the consumer, e.g. verification.queue. The running service replays; this command
    follows with a progress bar and exits 2 if the replay is not done within --wait."""
    from shared import projections_admin

    found = projections_admin.find(_declared(), name)
    conn = connect(env.config.database_url)
    try:
        heads = projections_admin.reset(conn, found)
        click.echo(f"{found.name}: emptied; replaying {sum(heads.values())} event(s) of "
                   f"{', '.join(sorted(heads))} from zero", err=True)
        if projections_admin.follow(conn, found, heads, wait, progress):
            click.echo(f"{found.name}: rebuilt, continuing live")
            return 0
    finally:
        conn.close()
    click.echo(f"{found.name}: not caught up after {wait:g} s; is the {found.schema} service "
               "running? It goes on when it runs (`simasn projections status`)", err=True)
    return 2
