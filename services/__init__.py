"""SIMASN Jatim services: one bounded context and one Nameko service per package."""
