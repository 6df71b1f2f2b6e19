"""`simasn signing renew-timestamps`: the archive time stamp renewal now (the signing service's
hourly timer does the same; docs/design/long-term-validation.md). `simasn signing
official-status ACCOUNT`: whether BSrE would sign for an official now."""

from __future__ import annotations

import click

from simasn_cli.common import Environment, pass_env, print_json, raw_config


@click.group()
def signing() -> None:
    """Signed documents: long-term validation, BSrE."""


def _cluster(env: Environment, timeout: float):
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared import callers
    from shared.config import load_default_env_file

    load_default_env_file()
    config = {**raw_config(), "AMQP_URI": env.config.amqp_uri}
    context = callers.from_config(config, callers.SERVICE).sign_context({
        "actor_id": "service:cli", "actor_role": "system", "actor_roles": ["system"],
        "actor_scope": []})
    return ClusterRpcProxy({"AMQP_URI": env.config.amqp_uri}, context_data=context,
                           timeout=timeout)


@signing.command("official-status")
@click.argument("account_id")
@click.option("--timeout", type=float, default=90,
              help="seconds to wait for the signing service's answer")
@pass_env
def official_status(env: Environment, account_id: str, timeout: float) -> int:
    """Ask BSrE whether it would sign for ACCOUNT_ID now (SIGNING_BACKEND=bsre): prints the
    NIK the key store names (masked) and BSrE's status of its certificate.

    Exit 1 when BSrE would not sign (no certificate, not registered, not issued)."""
    with _cluster(env, timeout) as cluster:
        status = cluster.signing.official_status(account_id)
    print_json(status)
    return 0 if status.get("active") else 1


@signing.command("renew-timestamps")
@click.option("--timeout", type=float, default=3600,
              help="seconds to wait for the signing service's answer")
@pass_env
def renew_timestamps(env: Environment, timeout: float) -> int:
    """Add a fresh archive time stamp to every B-LTA document whose last one's TSA certificate
    ends within SIGNING_RENEW_WINDOW_DAYS; prints the counts (renewed, skipped, failed).

    Exit 1 when a document failed (it is tried again at the next run)."""
    with _cluster(env, timeout) as cluster:
        counts = cluster.signing.renew_timestamps()
    print_json(counts)
    return 1 if counts.get("failed") else 0
