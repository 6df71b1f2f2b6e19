"""Use cases of the verification service, one module per job. `queue` keeps the verification
queues per OPD from the requests and records events and lists what waits with its SLA state;
`inbox` keeps the employee's in-app notifications of each request step and marks them read;
`claims` lets one verifier at a time take a queue item; `cases` records documents found not
original and has an administrator issue the written warning or dismiss the case. Each takes the
unit of work (and the principal and validated data), decides through `domain.py`, appends the
events and writes the read models: the service's SQL lives here."""
