"""`nameko run tests.crash.consumer_service:Consumer` — the consumer the crash test kills.
Its schema and source log come from the environment the test sets."""

import os

from tests.helpers import make_consumer_service

Consumer = make_consumer_service(os.environ["CRASH_CONSUMER_SCHEMA"],
                                 os.environ["CRASH_SOURCE_SCHEMA"])
