"""Marshmallow schemas for the identity service's RPC payloads."""
