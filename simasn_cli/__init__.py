"""`simasn`: the operator's and auditor's command line, on click.

One module per command group (`migrate`, `keys`, `broker` and `health`; `relay`; `admin` and `seed`,
`pki`, `audit`, `records`, `deadletters`, `projections`); `main.py` puts them
together and turns our errors into exit codes. The command line is a composition root like a
service's container: it is the one place outside `services/` that knows the services (through
`services/registry.py`) and hands what `shared` needs to it, so `shared` imports no service."""
