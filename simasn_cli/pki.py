"""`simasn pki init|add-signer`: a development PKI for the signing service (production
certificates come from BSrE)."""

from __future__ import annotations

from pathlib import Path

import click

from shared.config import load_default_env_file
from simasn_cli.common import keystore_dir_from_config

dir_option = click.option("--dir", "directory",
                          help="key store directory (default SIGNING_KEYSTORE_DIR)")


def _directory(given: str | None) -> Path:
    load_default_env_file()
    return Path(given or keystore_dir_from_config())


@click.group()
def pki() -> None:
    """Development key store for the signing service."""


@pki.command()
@dir_option
@click.option("--signer", "signers", multiple=True, metavar="ACCOUNT=NAME|JABATAN",
              help="an official who signs, e.g. 'admin.bkd=Dr. Budi|Kepala BKD'")
@click.option("--force", is_flag=True, help="replace an existing key store")
@click.option("--if-missing", is_flag=True, help="do nothing if one exists")
def init(directory: str | None, signers: tuple[str, ...], force: bool, if_missing: bool) -> int:
    """Root CA, signer certificates, seal and TSA (development)."""
    from services.signing import pki as dev_pki

    where = _directory(directory)
    if (where / "keystore.json").exists() and if_missing:
        click.echo(f"{where}: key store already there, left as it is")
        return 0
    officials = [{"account_id": s.split("=", 1)[0], "name": s.split("=", 1)[1].split("|")[0],
                  "jabatan": (s.split("|", 1)[1] if "|" in s else "Pejabat BKD")}
                 for s in signers]
    try:
        index = dev_pki.init(where, officials, force=force)
    except FileExistsError as exc:
        click.echo(str(exc), err=True)
        return 2
    click.echo(f"{where}: development root CA, {len(index['signers'])} signer(s), seal and "
               "TSA certificates (NOT for production: use BSrE certificates there)")
    return 0


@pki.command("add-signer")
@dir_option
@click.option("--account", required=True)
@click.option("--name", required=True)
@click.option("--jabatan", required=True)
def add_signer(directory: str | None, account: str, name: str, jabatan: str) -> int:
    """A certificate for one more official (development)."""
    from services.signing import pki as dev_pki

    where = _directory(directory)
    dev_pki.add_signer(where, account, name, jabatan)
    click.echo(f"{where}: certificate for {account} ({name}, {jabatan})")
    return 0
