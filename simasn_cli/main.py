"""The `simasn` command: the groups put together, and our errors turned into exit codes
(0 done, 1 refused or unreachable with a message on stderr, 2 a check that failed or a usage
mistake)."""

from __future__ import annotations

import sys

import click
import psycopg2

from shared.errors import SimasnError
from simasn_cli import (
    accounts,
    audit,
    backup,
    dbroles,
    deadletters,
    deploy,
    pki,
    projections,
    records,
    relay,
    signing,
    storage,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
def cli() -> None:
    """SIMASN Jatim operations: deploy, run, audit and repair."""


for command in (deploy.migrate, relay.relay, deploy.keys, deploy.broker, deploy.health,
                accounts.admin, accounts.seed, pki.pki, audit.audit, records.records,
                deadletters.deadletters, projections.projections, storage.storage,
                dbroles.db_roles, signing.signing,
                backup.backup, backup.restore):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code is returned (tests call this in-process)."""
    try:
        result = cli.main(args=argv, prog_name="simasn", standalone_mode=False)
    except SimasnError as exc:
        click.echo(f"error: {exc.message}" + (f" (field: {exc.field})" if exc.field else ""),
                   err=True)
        return 1
    except psycopg2.OperationalError as exc:
        click.echo(f"error: cannot reach the database: {str(exc).strip()}", err=True)
        return 1
    except click.exceptions.Exit as exc:  # --help
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
