"""Root fixtures. Eventlet must patch before anything imports sockets or threads, or container
tests hang (see STACK.md). The browser tests run in a pytest process of their own
(SIMASN_TEST_BROWSER=1, `make test`) without it: Playwright's sync API runs an asyncio loop in a
greenlet, and eventlet's green I/O re-parents that greenlet onto its hub, so the first sync call
that touches green I/O never returns (tests/e2e/browser.py)."""

import os

import eventlet

if os.environ.get("SIMASN_TEST_BROWSER") != "1":
    eventlet.monkey_patch()

import psycopg2  # noqa: E402
import pytest  # noqa: E402

# the test process is an RPC client too (standalone proxies): the contract error classes are
# rebuilt by class where shared/rpc.py registers them, whichever test module runs first
import shared.rpc  # noqa: E402, F401
from shared.config import with_user  # noqa: E402
from shared.migrations import migrate  # noqa: E402
from shared.testing import (  # noqa: E402
    create_scratch_log,
    create_test_database,
    drop_test_database,
    freeze_template,
)
from tests.sync_helpers import broker_region  # noqa: E402, F401 - a fixture (the AMQP push)

ADMIN_URL = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: this run's key sealing the regions' HMAC secrets (sync)
SYNC_SEAL_KEY = "wZ7bV2o3lHc5mI0k9cQnS3fX1yU8tR6eA4dG2hJ5kL0="
# the CLI run in-process never reads a developer's .run/secrets.env into the test process
os.environ["SIMASN_ENV_FILE"] = ""


@pytest.fixture(scope="session")
def database_url(migrated_template):
    """A database of its own for this test run, migrated once, dropped at the end."""
    url = create_test_database(ADMIN_URL, template=migrated_template)
    yield url
    drop_test_database(url)


@pytest.fixture(scope="session")
def migrated_template():
    """A migrated database nobody uses, copied for each `own_database` (a copy takes a tenth of
    a second, the migrations about three: a hundred tests ask for one)."""
    url = create_test_database(ADMIN_URL, prefix="simasn_template")
    try:
        migrate(url)
        freeze_template(url)
        yield url
    finally:
        drop_test_database(url)


@pytest.fixture
def own_database(monkeypatch, migrated_template):
    """A database of this test's own, migrated, which the CLI run in-process connects to: for
    tests that tamper with a real service log or empty whole tables."""
    url = create_test_database(ADMIN_URL, template=migrated_template)
    monkeypatch.setenv("SIMASN_DATABASE_URL", url)
    monkeypatch.delenv("SIMASN_CONFIG", raising=False)
    yield url
    drop_test_database(url)


@pytest.fixture
def admin_conn(database_url):
    conn = psycopg2.connect(database_url)
    yield conn
    conn.close()


@pytest.fixture
def scratch_schema(database_url):
    """An empty event log schema of its own (tests that count or tamper use this)."""
    return create_scratch_log(database_url)


@pytest.fixture
def scratch_url(database_url):
    """Connect as the scratch logs' least-privilege role, as a service would."""
    return with_user(database_url, "simasn_scratch")


@pytest.fixture(scope="session")
def keystore_dir(tmp_path_factory):
    """A development key store for this run (`simasn pki init`): the root CA, the test
    administrator `admin.bkd` as signer, the service seal and a TSA certificate."""
    from services.signing import pki

    directory = tmp_path_factory.mktemp("keystore")
    pki.init(directory, [{"account_id": "admin.bkd", "name": "Dr. Budi Santoso, M.Si.",
                          "jabatan": "Kepala Badan Kepegawaian Daerah"}])
    return directory


@pytest.fixture(scope="session")
def caller_keys():
    """This run's caller-token keys (shared/callers.py): both private keys, since one test
    process plays the gateway and the services (each mints only with its own)."""
    from shared.callers import dev_keys

    return dev_keys()


@pytest.fixture
def service_config(database_url, rabbit_config, tmp_path, keystore_dir, caller_keys):
    """Nameko config for a container under test: this run's database, this test's vhost, a
    document store of its own."""
    return {
        **caller_keys,
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DATABASE_URL": database_url,
        "DOCUMENT_ROOT": str(tmp_path / "documents"),
        "SIGNING_KEYSTORE_DIR": str(keystore_dir),
        "SIGNING_VERIFY_URL": "https://simasn.test/verifikasi",
        "LOG_LEVEL": "WARNING",
        "CONSUMER_RETRY_ATTEMPTS": 3,
        "CONSUMER_RETRY_BASE_DELAY": 0.01,
        # sync: the Fernet key sealing the regions' HMAC secrets
        "SYNC_KEY_SEAL_KEY": SYNC_SEAL_KEY,
    }


@pytest.fixture
def identity_config(service_config, tmp_path):
    """Identity keys for tests; Argon2 made cheap so the suite stays fast."""
    from cryptography.fernet import Fernet

    return {
        **service_config,
        "TOKEN_SIGNING_KEY": "test-signing-key-" + "x" * 32,
        "SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 1024,
        "NOTIFICATION_OUTBOX": str(tmp_path / "outbox.jsonl"),
        "LOGIN_THROTTLE_FREE_ATTEMPTS": 5,
    }


def pytest_addoption(parser):
    parser.addoption("--shard", default=None, metavar="K/N",
                     help="run only the K-th of N parts of the suite, whole files each, "
                          "balanced by tests/file_durations.json (scripts/test.sh)")


def pytest_collection_modifyitems(config, items):
    """With --shard K/N, keep the test files of part K (tests.sharding). Tests marked `last`
    check what the whole run wrote, so they go after everything else. The end-to-end tests on
    the deployed stack (tests/e2e) go just before them: `make test` runs the browser tests,
    with a stack of their own, beside this run from its start (scripts/test.sh), and the two
    stacks are then not up at the same time. The kill loop (marker `chaos`) comes after the
    end-to-end tests of its part: its own stack runs on a private PostgreSQL and RabbitMQ (no
    connections taken from the shared server), but nine more processes on the same cores would
    slow the end-to-end tests' stack and its own recovery figures."""
    from tests import sharding

    shard = config.getoption("--shard")
    if shard:
        kept, dropped = sharding.select(items, shard)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def order(item) -> float:
        if item.get_closest_marker("last") is not None:
            return 2
        if item.get_closest_marker("chaos") is not None:
            return 1.5
        return 1 if "tests/e2e/" in item.nodeid else 0

    items.sort(key=order)


def pytest_runtest_logreport(report):
    from tests import sharding

    sharding.DURATIONS.add(report)


def pytest_sessionfinish(session):
    from tests import sharding

    sharding.DURATIONS.write(session.config)


def pytest_terminal_summary(terminalreporter):
    """Show what the gateway fuzzing generated and how the gateway answered."""
    import sys

    stats = next((m.FUZZ_STATS for name, m in list(sys.modules.items())
                  if name.endswith("test_gateway_fuzz") and hasattr(m, "FUZZ_STATS")), None)
    if not stats:
        return
    terminalreporter.section("gateway fuzzing (schemathesis): cases and statuses per operation")
    total = 0
    for operation, statuses in sorted(stats.items()):
        count = sum(statuses.values())
        total += count
        shown = ", ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))
        terminalreporter.write_line(f"{operation:55} {count:4} cases  {shown}")
    server_errors = sum(n for s in stats.values() for code, n in s.items() if code >= 500)
    terminalreporter.write_line(f"total {total} generated requests, {server_errors} answered 5xx "
                                "(none may: every backend runs)")


@pytest.fixture
def identity(container_factory, identity_config):
    """The identity service running, and a People helper to make accounts and log in."""
    from services.identity.service import IdentityService
    from tests.identity_helpers import People

    container_factory(IdentityService, identity_config).start()
    people = People(identity_config)
    yield people
    people.close()


@pytest.fixture
def start_gateway(container_factory, identity_config):
    """Start the gateway on a free port with the given services behind it; returns
    (HTTP client, People, config). `overrides` are merged into the config."""
    from services.gateway.service import GatewayService
    from services.identity.service import IdentityService
    from tests.gateway_helpers import Client, free_port
    from tests.identity_helpers import People

    opened = []

    def start(*services, **overrides):
        port = free_port()
        # the production default: sessions cached, revocations fenced (test_gateway_sessions)
        config = {**identity_config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
                  "GATEWAY_SESSION_CACHE_SECONDS": 60, **overrides}
        for service in (IdentityService, *services, GatewayService):
            container_factory(service, config).start()
        people = People(config)
        opened.append(people)
        return Client(f"http://127.0.0.1:{port}"), people, config

    yield start
    for people in opened:
        people.close()
