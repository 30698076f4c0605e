"""``python -m asymptotics``: the ``icl-asymptotics`` command line (see :mod:`asymptotics.cli`)."""
import sys

from asymptotics.cli import main

sys.exit(main())
