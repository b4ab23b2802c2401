"""Say so when another distribution's ``realtime`` package shares our folder.

Supabase's Python client depends on a package also named ``realtime``. Installing both puts
their files in one ``realtime/`` folder and pip lets the last one's ``__init__.py`` win without a
word: if it is ours, the other library is broken. The import name is part of this project's
design, so the conflict is made loud instead of silent.
"""

from __future__ import annotations

import warnings
from pathlib import Path

# Files of Supabase's `realtime` (1.x and 2.x) that this package does not have.
_FOREIGN = ("_async", "_sync", "message.py", "transformers.py")


def warn_if_shared(folder: Path) -> None:
    """Warn once if the other ``realtime`` package's files are beside ours in ``folder``."""
    found = [name for name in _FOREIGN if (folder / name).exists()]
    if found:
        warnings.warn(
            f"realtime-wire and another distribution named 'realtime' (Supabase's realtime "
            f"client, a dependency of 'supabase') are installed in the same environment and "
            f"share the folder {folder} (its files: {', '.join(found)}). realtime-wire's "
            f"realtime/__init__.py replaced the other's, so Supabase's realtime client is now "
            f"broken ('from realtime import AsyncRealtimeClient' fails). Install realtime-wire "
            f"and supabase in separate environments (virtualenvs).",
            RuntimeWarning,
            stacklevel=2,
        )
