"""The sync service's use cases, one module per job: `regions` onboards a kabupaten/kota and
manages its HMAC keys (add, retire, list); `receiving` checks a region's signed request and
records a batch (every event into the log with its raw payload, then into `inbound`);
`applying` is the worker that applies what arrived, in sequence order per region, through
records.apply_region_change; `quarantine` is what the region and administrators do with refused
events; `snapshots` takes a region's full snapshot in (signed over its digest) and loads it row
by row; `reconciling` compares a loaded snapshot with records and lists the differences;
`monitoring` is the status of each region, gap reports and the silence alarm. Each
takes the unit of work (or the database, where an RPC must run between two transactions), the
caller's principal and validated data; the SQL is here, the rules in services/sync/domain.py."""

#: the context the service acts in when no person asks: its timers and the records calls they
#: make for a region
SYSTEM = {"actor_id": "service:sync", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}

#: stream type of the region:<code> streams
STREAM_TYPE = "Region"


def stream(region: str) -> str:
    return f"region:{region}"


def iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def copy_in(uow, statement: str, buffer) -> None:
    """`COPY ... FROM STDIN` of `buffer` on the unit of work's connection. psycopg2 refuses COPY
    while a wait callback is set (eventlet's green psycopg2 sets one), so the callback is lifted
    for the length of one COPY: the hub waits for that chunk (a few thousand rows, tens of ms)
    and every other query stays green."""
    from psycopg2 import extensions

    callback = extensions.get_wait_callback()
    extensions.set_wait_callback(None)
    try:
        with uow.dbapi.cursor() as cur:
            cur.copy_expert(statement, buffer)
    finally:
        extensions.set_wait_callback(callback)
