"""``python -m realtime``: the ``realtime`` command."""

import sys

from .cli._cli import main

if __name__ == "__main__":
    sys.exit(main())
