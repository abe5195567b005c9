"""``python -m tmws_store``: the same as the ``tmws-store`` command (see ``tmws_store.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a tool merely imports this module
    sys.exit(main())
