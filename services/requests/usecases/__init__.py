"""The requests service's use cases, one module per aggregate or job: `catalogue` (the layanan
catalogue: checked, seeded, changed with a new SOP, switched off by decree), `workflow` (a
request's way from draft to completion, who may do what at each step, and what other services'
events add to it) and `evaluation` (the yearly evaluation of each layanan, read from the log).
Each use case takes the unit of work, the actor and validated data; its SQL lives here, its
rules in services/requests/domain.py."""
