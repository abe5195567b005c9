"""``python -m tmws_store``: the same as the ``tmws-store`` command."""

import sys

from .cli import main

sys.exit(main())
