"""The identity service's use cases, one module per aggregate or job: `accounts` (registration,
roles and OPD scope, logging in, sessions, passwords and contact details), `access` (the access
lifecycle of Pergub 73/2020: access requests, access reviews, machine clients), `throttle`
(failed attempts per source), `leases` (the session-cache leases of gateway replicas), `emails`
(the email outbox: notifications and account mails, queued and delivered), and the operator's
`bootstrap` (first accounts) and `seed` (the demo province). Each takes a unit of work (and the
actor and validated data), decides through domain.py, appends events and writes projections;
the SQL of the service lives here."""
