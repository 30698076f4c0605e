"""Finite-d Monte Carlo simulation of linear-attention ICL (trains Gamma* exactly)."""
