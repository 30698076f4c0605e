"""Exact asymptotic theory of in-context learning by linear attention.

Lu, Letey, Zavatone-Veth, Maiti, Pehlevan, PNAS 2025 (arXiv 2405.11751).
See ``../shared/THEORY.md`` for the model and the provenance of each formula.
"""
__version__ = "0.1.0"
