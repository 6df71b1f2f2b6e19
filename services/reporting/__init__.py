"""The reporting service: monitoring and evaluation read models: completeness per OPD, yearly
service evaluation.
"""
