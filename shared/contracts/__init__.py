"""API contracts: the marshmallow schemas of each service's RPC payloads, shared with the
gateway (HTTP validation and the OpenAPI document). Services import contracts, never each other."""
