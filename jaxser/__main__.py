"""``python -m jaxser``: the ``jaxser`` command."""

import sys

from jaxser.cli import main

sys.exit(main())
