"""pytest plugin for the fake Realtime server (placeholder until the fixtures land)."""
