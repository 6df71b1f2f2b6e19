"""Marshmallow schemas for the sync service's RPC payloads."""
