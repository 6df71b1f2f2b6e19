"""Marshmallow schemas for the requests service's RPC payloads."""
