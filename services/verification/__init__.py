"""The verification service: verification queues for fasilitator and administrator, document
checks.
"""
