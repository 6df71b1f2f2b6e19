"""What every SIMASN Jatim service needs: event store, outbox relay, idempotent consumers,
config, logging, errors, audit tooling. Services import this package; never each other."""

SERVICES = (
    "identity",
    "records",
    "requests",
    "verification",
    "signing",
    "reporting",
    "sync",
    "gateway",
)
