"""`simasn relay`: run the outbox relays (no subcommand), `simasn relay status` (per log: head,
relay position and lag, leader, held and unrouted events) and `simasn relay retry` (offer held
and unrouted events again)."""

from __future__ import annotations

import signal
import threading
import time

import click

from shared import SERVICES
from simasn_cli.common import Environment, connect, pass_env, print_json, service_option


@click.group(invoke_without_command=True)
@service_option
@click.option("--batch-size", type=click.IntRange(1, 10000), default=500, show_default=True,
              envvar="SIMASN_RELAY_BATCH_SIZE", show_envvar=True)
@click.option("--heartbeat", type=click.FloatRange(0), default=30, show_default=True,
              envvar="SIMASN_RELAY_HEARTBEAT", show_envvar=True,
              help="broker heartbeat in seconds (0: off); a silent broker is given up after two")
@click.option("--confirm-timeout", type=click.FloatRange(0.1), default=30, show_default=True,
              envvar="SIMASN_RELAY_CONFIRM_TIMEOUT", show_envvar=True,
              help="longest wait for the broker to confirm one publish, seconds")
@click.option("--retry-interval", type=click.FloatRange(1), default=60, show_default=True,
              envvar="SIMASN_RELAY_RETRY_INTERVAL", show_envvar=True,
              help="how often unrouted events are offered again, seconds")
@click.pass_context
def relay(ctx: click.Context, services: tuple[str, ...], batch_size: int, heartbeat: float,
          confirm_timeout: float, retry_interval: float) -> int | None:
    """Run the outbox relays, one per service log (or see/retry them).

    Without a subcommand: relays until SIGTERM or SIGINT; a standby waits while another relay
    leads a log."""
    if ctx.invoked_subcommand is not None:
        return None
    from services.registry import event_registry
    from shared.relay import run_relays

    env = ctx.ensure_object(Environment)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_relays(env.config.service_database_url,
               {service: event_registry(service) for service in services or SERVICES},
               env.config.amqp_uri, stop=stop, batch_size=batch_size, heartbeat=heartbeat,
               confirm_timeout=confirm_timeout, retry_interval=retry_interval)
    return 0


def _show(statuses: list[dict], as_json: bool) -> int:
    from shared import relayops

    if as_json:
        print_json(statuses)
    else:
        for status in statuses:
            click.echo("\n".join(relayops.format_status(status)))
    return 1 if any(status["held"] for status in statuses) else 0


@relay.command()
@service_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines")
@pass_env
def status(env: Environment, services: tuple[str, ...], as_json: bool) -> int:
    """Per log: head, relay position and lag, leader, held and unrouted events.

    Exit 1 while an event is held."""
    from shared import audit, relayops

    conn = connect(env.config.database_url)
    try:
        statuses = [relayops.relay_status(conn, schema)
                    for schema in audit.existing_schemas(conn, services or SERVICES)]
    finally:
        conn.close()
    return _show(statuses, as_json)


@relay.command()
@service_option
@click.option("--wait", type=float, default=30, show_default=True,
              help="seconds to wait for the leaders to take the request up")
@click.option("--json", "as_json", is_flag=True, help="the status after it as JSON")
@pass_env
def retry(env: Environment, services: tuple[str, ...], wait: float, as_json: bool) -> int:
    """Offer held and unrouted events again, then print the status.

    After the code that could not upcast or redact an event is fixed, or once a queue is bound
    for events nobody consumed."""
    from shared import audit, relayops

    conn = connect(env.config.database_url)
    try:
        schemas = audit.existing_schemas(conn, services or SERVICES)
        for schema in schemas:
            asked = relayops.request_retry(conn, schema)
            click.echo(f"{schema}: retry requested of {asked} relay(s)")
        deadline = time.monotonic() + wait
        while any(relayops.retry_pending(conn, s) for s in schemas):
            if time.monotonic() > deadline:
                click.echo("not yet taken up by a leader (is `simasn relay` running?)")
                return 1
            time.sleep(0.5)
        statuses = [relayops.relay_status(conn, schema) for schema in schemas]
    finally:
        conn.close()
    return _show(statuses, as_json)
