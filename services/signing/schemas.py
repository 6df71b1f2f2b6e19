"""Marshmallow schemas for the signing service's RPC payloads."""
