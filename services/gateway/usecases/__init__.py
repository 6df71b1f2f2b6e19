"""What the gateway does itself, beside passing each request to the service that owns it:
the login rate limits shared by every replica (`limits`), and the record of every auditor read
(`auditing`). Everything else is one RPC per route (services/gateway/service.py)."""
