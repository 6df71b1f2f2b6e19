"""Gateway rules that are plain Python: request ids."""

import re
import uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_from(header: str | None) -> str:
    """Keep a caller's X-Request-Id when it is a sane token, else mint one."""
    if header and _REQUEST_ID.match(header):
        return header
    return str(uuid.uuid4())
