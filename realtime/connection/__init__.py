"""The anyio driver: ``connect``, the ``Connection`` facade, one socket life (the link), the
dispatcher and the reconnector. It never imports ``fakes``, the session or the CLI."""
