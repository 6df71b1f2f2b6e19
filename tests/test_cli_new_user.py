"""A new user's first commands after `make up` (issue 12, defect 16): `simasn` run as a program,
from a checkout that `make up` prepared, with nothing exported in the shell. The CLI reads
`.run/secrets.env` itself (the environment still wins) and `simasn audit verify` finds the
signing CA's root certificate where `make up` put the key store; when it cannot, it says where it
looked and how to give another."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.identity.usecases import seed
from services.signing.keystore import Keystore
from shared.config import load_env_file
from shared.errors import ConfigError
from tests.test_signing_checkpoints import make_checkpoint

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent
SIMASN = str(Path(sys.executable).parent / "simasn")
PEGAWAI = 3


def shell_environment() -> dict:
    """A fresh shell's environment: no SIMASN_* variable exported."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SIMASN_")}


def simasn(*args, cwd, env=None, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([SIMASN, *args], cwd=cwd, env=env or shell_environment(),  # noqa: S603 - our own CLI
                          input=stdin, capture_output=True, text=True, timeout=120)


def run_load_secrets(run_dir: Path, cwd: Path) -> None:
    """`load_secrets` of scripts/stack.sh (what `make up` does before anything starts): the
    identity keys and the key store directory into `run_dir/secrets.env`, the development key
    store into `run_dir/keystore`. The function itself, taken from the script."""
    script = (ROOT / "scripts" / "stack.sh").read_text(encoding="utf-8")
    function = re.search(r"^load_secrets\(\) \{\n.*?^\}\n", script, re.M | re.S).group(0)
    harness = (f"set -euo pipefail\nsay() {{ printf '[stack] %s\\n' \"$*\" >&2; }}\n"
               f"RUN_DIR={shlex.quote(str(run_dir))}\n"
               f"BIN={shlex.quote(str(Path(sys.executable).parent))}\n{function}load_secrets\n")
    done = subprocess.run(["bash", "-c", harness], cwd=cwd, env=shell_environment(),  # noqa: S603, S607 - our own script
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def checkout(tmp_path, own_database, rabbit_config):
    """A checkout after `make up`: config.yaml, and `.run/` as scripts/stack.sh's
    `load_secrets` leaves it (secrets.env, mode 600, and the development key store). The test
    adds its own database, broker vhost and a cheap Argon2 to the same file."""
    root = tmp_path / "simasn"
    (root / ".run").mkdir(parents=True)
    shutil.copy(ROOT / "config.yaml", root / "config.yaml")
    run_load_secrets(root / ".run", root)
    secrets = root / ".run" / "secrets.env"
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    with secrets.open("a", encoding="utf-8") as extra:
        extra.write(f"SIMASN_DATABASE_URL={own_database}\n"
                    f"SIMASN_AMQP_URI={rabbit_config['AMQP_URI']}\n"
                    "SIMASN_ARGON2_TIME_COST=1\nSIMASN_ARGON2_MEMORY_KIB=1024\n"
                    "SIMASN_LOG_LEVEL=WARNING\n")
    return root, own_database, Keystore(root / ".run" / "keystore")


def test_the_readme_commands_work_as_written_without_sourcing_anything(checkout):
    root, database_url, keystore = checkout
    seeded = simasn("seed", "demo", "--pegawai", str(PEGAWAI), "--no-progress", cwd=root)
    assert seeded.returncode == 0, seeded.stderr
    assert "admin.bkd" in seeded.stdout
    created = simasn("admin", "create", "--username", "admin.kedua", "--name",
                     "Dra. Sri Wahyuni", "--email", "sri.wahyuni@bkd.jatimprov.go.id",
                     "--password-stdin", cwd=root, stdin="Kata-Sandi-Kuat-2026\n")
    assert created.returncode == 0, created.stderr

    # the signing service has sealed a checkpoint with the key store make up made
    make_checkpoint(database_url, keystore.signer("seal"))
    verified = simasn("audit", "verify", cwd=root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checkpoints: 1 signed, 1 trusted" in verified.stdout

    nip = next(a.login for a in seed.plan(seed.DEFAULT_SEED, PEGAWAI) if a.roles == ("pegawai",))
    for stream, first_event in ((f"employee:{nip}", "EmployeeRegistered"),
                                ("account:admin.bkd", "AccountRegistered"),
                                (f"account:{nip}", "AccountRegistered")):
        timeline = simasn("audit", "timeline", "--stream", stream, cwd=root)
        assert timeline.returncode == 0, timeline.stderr
        assert first_event in timeline.stdout, timeline.stdout
    replayed = simasn("audit", "replay", "--stream", f"employee:{nip}", "--as-of",
                      datetime.now(UTC).isoformat(), cwd=root)
    assert replayed.returncode == 0, replayed.stderr
    assert f'"stream_id": "employee:{nip}"' in replayed.stdout


def test_the_environment_wins_and_a_missing_root_says_where_it_looked(checkout):
    root, database_url, keystore = checkout
    make_checkpoint(database_url, keystore.signer("seal"))
    elsewhere = root / "elsewhere"
    shell = {**shell_environment(), "SIMASN_SIGNING_KEYSTORE_DIR": str(elsewhere)}
    refused = simasn("audit", "verify", cwd=root, env=shell)
    assert refused.returncode == 1
    assert str(elsewhere / "keystore.json") in refused.stderr
    for way in ("--trust-roots", "SIMASN_SIGNING_TRUST_ROOTS", "SIMASN_SIGNING_KEYSTORE_DIR"):
        assert way in refused.stderr, refused.stderr
    given = simasn("audit", "verify", "--trust-roots", str(keystore.directory / "root-ca.pem"),
                   cwd=root, env=shell)
    assert given.returncode == 0, given.stdout + given.stderr

    # another environment file, named
    other = root / "other.env"
    other.write_text((root / ".run" / "secrets.env").read_text(encoding="utf-8"),
                     encoding="utf-8")
    other.chmod(0o600)
    (root / ".run" / "secrets.env").unlink()
    named = simasn("audit", "verify", cwd=root,
                   env={**shell_environment(), "SIMASN_ENV_FILE": str(other)})
    assert named.returncode == 0, named.stdout + named.stderr


def test_the_environment_file_fills_only_what_the_environment_lacks(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("# made by make up\n\nSIMASN_A=from-file\nexport SIMASN_B='quoted value'\n"
                    'SIMASN_C="x=y"\nSIMASN_D=\n', encoding="utf-8")
    path.chmod(0o600)
    environ = {"SIMASN_A": "from-shell"}
    assert load_env_file(path, environ) == ["SIMASN_B", "SIMASN_C", "SIMASN_D"]
    assert environ == {"SIMASN_A": "from-shell", "SIMASN_B": "quoted value",
                       "SIMASN_C": "x=y", "SIMASN_D": ""}
    path.write_text("not a variable line\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_env_file(path, {})
    assert bad.value.field == str(path) and "line 1" in bad.value.message


def test_an_environment_file_others_can_write_is_refused(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("SIMASN_DATABASE_URL=postgresql://mallory@example/simasn\n",
                    encoding="utf-8")
    path.chmod(0o666)  # noqa: S103 - the point of the test
    with pytest.raises(ConfigError) as refused:
        load_env_file(path, {})
    assert "chmod 600" in refused.value.message
