"""Every SIMASN Jatim service, registered by hand in one place.

`shared` never imports a service: what it needs to know about one (the event types of its log,
to upcast and redact them; its Nameko class, to declare the queues of its event handlers; the
folds of its domain, to replay a stream) is handed to it by a composition root — a service's
own container, the `simasn` command, a test — which takes it from here. Adding a service means
adding it here and to `shared.SERVICES`; `tests/test_service_shape.py` checks the two agree."""

from __future__ import annotations

from services.gateway.events import REGISTRY as GATEWAY_EVENTS
from services.identity.events import REGISTRY as IDENTITY_EVENTS
from services.records.events import REGISTRY as RECORDS_EVENTS
from services.reporting.events import REGISTRY as REPORTING_EVENTS
from services.requests.events import REGISTRY as REQUESTS_EVENTS
from services.signing.events import REGISTRY as SIGNING_EVENTS
from services.sync.events import REGISTRY as SYNC_EVENTS
from services.verification.events import REGISTRY as VERIFICATION_EVENTS
from shared.eventtypes import EventRegistry

#: the event types of each service's log
EVENT_REGISTRIES: dict[str, EventRegistry] = {
    "identity": IDENTITY_EVENTS,
    "records": RECORDS_EVENTS,
    "requests": REQUESTS_EVENTS,
    "verification": VERIFICATION_EVENTS,
    "signing": SIGNING_EVENTS,
    "reporting": REPORTING_EVENTS,
    "sync": SYNC_EVENTS,
    "gateway": GATEWAY_EVENTS,
}



def event_registry(service: str) -> EventRegistry | None:
    """The event types of `service`'s log (None for a scratch log in a test)."""
    return EVENT_REGISTRIES.get(service)


def service_classes() -> dict[str, type]:
    """Each service's Nameko class (imported on demand: a service module pulls in its whole
    runtime, which the relay and the audit tools do not need)."""
    from services.gateway.service import GatewayService
    from services.identity.service import IdentityService
    from services.records.service import RecordsService
    from services.reporting.service import ReportingService
    from services.requests.service import RequestsService
    from services.signing.service import SigningService
    from services.sync.service import SyncService
    from services.verification.service import VerificationService

    return {"identity": IdentityService, "records": RecordsService,
            "requests": RequestsService, "verification": VerificationService,
            "signing": SigningService, "reporting": ReportingService, "sync": SyncService,
            "gateway": GatewayService}


def load_folds() -> None:
    """Register the domain folds (how an aggregate's state is rebuilt) for `audit replay`."""
    import services.identity.domain  # noqa: F401 - registers the Account fold
    import services.records.domain  # noqa: F401 - registers the Employee fold
