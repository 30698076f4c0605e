"""The application layer of icl-asymptotics: the command line, the figures and their plots.

Layers (docs/ARCHITECTURE.md): :mod:`asymptotics` (pure math) <- :mod:`simulate` (the finite-d
world) <- this package. ``cli`` parses, calls and formats; ``figures`` turns parameters into
figures (theory from :mod:`asymptotics`, simulation points from :mod:`simulate`) and writes the
paper-style set; ``plot`` only draws data it is given. Nothing below imports this package.
"""
from asymptotics import __version__

__all__ = ["__version__"]
