"""The ``realtime`` command: the only place in ``realtime/`` that imports the fake."""
