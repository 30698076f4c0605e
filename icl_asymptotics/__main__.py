"""``python -m icl_asymptotics``: the ``icl-asymptotics`` command line (see :mod:`icl_asymptotics.cli`)."""
import sys

from icl_asymptotics.cli import main

sys.exit(main())
