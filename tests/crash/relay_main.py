"""`python -m tests.crash.relay_main URL SOURCE AMQP_URI` — a relay the crash test kills."""

import sys
import threading

from shared.logging import configure_logging
from shared.relay import OutboxRelay

if __name__ == "__main__":
    url, source, amqp_uri = sys.argv[1:4]
    configure_logging("relay", "WARNING")
    OutboxRelay(url, source, amqp_uri, schema=source, idle_sleep=0.05,
                batch_size=200).run(threading.Event())
