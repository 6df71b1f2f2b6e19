"""Marshmallow schemas for the reporting service's RPC payloads."""
