"""The gateway: the only HTTP door for frontends, agencies and kabupaten/kota clients. It
authenticates, checks role and OPD scope, calls services over RPC and holds no business data."""
