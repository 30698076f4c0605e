"""Test-session setup shared by tests/ and the notebooks.

BLAS threads: the simulator's solves are many small matrix products, for which OpenBLAS/MKL
threads bring no speed-up on a 2-core machine and, when another process competes for the cores
(joblib workers in the sweep tests, a second job), spin-waiting threads slowed tests 10-40x in our
measurements. One thread per process makes the suite's run time predictable. Set before numpy is
imported (this file is loaded first); an explicit setting in the environment wins.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
