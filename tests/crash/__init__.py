"""Processes the crash test starts and SIGKILLs: a consumer service and an outbox relay."""
