"""The sans-I/O protocol: the state table, the machine that turns frames into events, and the
frame types. Nothing here imports anyio or a transport (checked by import-linter in CI)."""
