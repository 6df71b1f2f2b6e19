"""Marshmallow schemas for the verification service's RPC payloads."""
