"""The identity service: accounts, roles, OPD assignments, sessions and the access lifecycle."""
