"""The sync service: feeds from the 38 kabupaten/kota and the yearly reconciliation."""
