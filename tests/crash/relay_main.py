"""`python -m tests.crash.relay_main URL SOURCE AMQP_URI [NAME]` — a relay the crash and
broker-outage tests run as a process of its own. SOURCE is a service log (`records`) or a
scratch log; NAME keeps its checkpoint apart from other relays of the same log."""

import sys
import threading

from services.registry import event_registry
from shared.logging import configure_logging
from shared.relay import OutboxRelay

if __name__ == "__main__":
    url, source, amqp_uri = sys.argv[1:4]
    name = sys.argv[4] if len(sys.argv) > 4 else "relay"
    configure_logging("relay", "INFO" if len(sys.argv) > 4 else "WARNING")
    OutboxRelay(url, source, amqp_uri, schema=source, idle_sleep=0.05,
                registry=event_registry(source),
                batch_size=200, name=name).run(threading.Event())
