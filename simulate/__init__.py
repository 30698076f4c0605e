"""Finite-d Monte Carlo simulation of linear-attention ICL (trains Gamma* exactly)."""
from simulate._sizes import sizes
from simulate.core import SimResult, run, run_replicate

__all__ = ["run", "run_replicate", "SimResult", "sizes"]
