"""The records service: the event-sourced employee master record (one aggregate per NIP) and its
documents.
"""
