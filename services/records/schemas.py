"""Marshmallow schemas for the records service's RPC payloads."""
