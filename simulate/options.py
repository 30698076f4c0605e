"""Options of a simulation run: one frozen object, validated once, at construction.

:class:`Options` holds every knob of :func:`simulate.run` that is not a model parameter: the ridge
solver and its tolerances, the precision of the solve, the task normalisation and the seeding mode.
An option that the chosen solver does not use is refused (``solver='dual', cg_rtol=0.5`` is a
``ValueError`` naming ``cg_rtol``), so a setting never silently does nothing. The defaults of the CG
tolerances live here and nowhere else.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

#: Ridge solvers (:mod:`simulate.solvers`): ``auto`` picks ``dual`` for ``n <= d(d+1)``, else ``cg``.
SOLVERS = ("auto", "dual", "cg", "direct")
#: Precisions of the solve (test errors are always evaluated in float64).
DTYPES = ("float64", "float32")
#: CG defaults: relative residual of the normal equations per dtype, and the iteration cap.
CG_RTOL = {"float64": 1e-10, "float32": 1e-4}
#: The CG iteration cap (the default of ``Options.cg_maxiter``).
CG_MAXITER = 2000
_CG_OPTIONS = ("cg_rtol", "cg_maxiter")
_USES_CG = ("auto", "cg")


@dataclass(frozen=True)
class Options:
    """How a simulation is run (never what is simulated: the model parameters are separate).

    Attributes
    ----------
    solver : one of :data:`SOLVERS` (default ``'auto'``).
    dtype : ``'float64'`` (default) or ``'float32'`` (numpy dtypes accepted), the precision of the solve.
    cg_rtol : CG tolerance on the relative residual of the normal equations, ``0 < cg_rtol < 1``
        (default :data:`CG_RTOL` for the dtype); only with ``solver`` ``'cg'`` or ``'auto'`` (used
        when ``auto`` picks CG, i.e. ``n > d(d+1)``).
    cg_maxiter : CG iteration cap, an integer >= 1 (default :data:`CG_MAXITER`); same solvers.
    normalize_tasks : draw tasks uniform on the sphere ``|w| = sqrt(d)`` instead of ``N(0, I_d)``
        (the authors' scripts; changes O(1/d) terms only).
    common_random_numbers : replicate ``r`` of every point uses the same stream
        (:mod:`simulate.seeding` says when that helps and what it costs); default independent
        streams per point.
    """

    solver: str = "auto"
    dtype: str = "float64"
    cg_rtol: float | None = None
    cg_maxiter: int | None = None
    normalize_tasks: bool = False
    common_random_numbers: bool = False

    def __post_init__(self):
        if not isinstance(self.solver, str) or self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {self.solver!r}")
        try:
            dtype = np.dtype(self.dtype).name
        except (TypeError, ValueError):  # numpy's own errors for names it does not know
            dtype = None
        if isinstance(self.dtype, bool) or self.dtype is None or dtype not in DTYPES:  # numpy reads None as float64
            raise ValueError(f"dtype must be one of {DTYPES}; got {self.dtype!r}")
        object.__setattr__(self, "dtype", dtype)
        for name in ("normalize_tasks", "common_random_numbers"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {value!r}")
            object.__setattr__(self, name, bool(value))
        if self.cg_rtol is not None:
            if (isinstance(self.cg_rtol, bool) or not isinstance(self.cg_rtol, numbers.Real)
                    or not 0 < self.cg_rtol < 1):
                raise ValueError(f"cg_rtol must be a number with 0 < cg_rtol < 1; got {self.cg_rtol!r}")
            object.__setattr__(self, "cg_rtol", float(self.cg_rtol))
        if self.cg_maxiter is not None:
            if (isinstance(self.cg_maxiter, bool) or not isinstance(self.cg_maxiter, numbers.Integral)
                    or self.cg_maxiter < 1):
                raise ValueError(f"cg_maxiter must be an integer >= 1; got {self.cg_maxiter!r}")
            object.__setattr__(self, "cg_maxiter", int(self.cg_maxiter))
        if self.solver not in _USES_CG:
            unused = [n for n in _CG_OPTIONS if getattr(self, n) is not None]
            if unused:
                raise ValueError(f"{unused[0]} applies only to solver 'cg' or 'auto'; "
                                 f"solver={self.solver!r} does not use it")

    @property
    def cg(self) -> tuple[float, int]:
        """The CG tolerance and iteration cap in force (defaults filled in for the dtype)."""
        rtol = CG_RTOL[self.dtype] if self.cg_rtol is None else self.cg_rtol
        return rtol, CG_MAXITER if self.cg_maxiter is None else self.cg_maxiter

    def as_dict(self) -> dict:
        """Plain JSON-able dict (part of every cache key and of the sweep metadata)."""
        return asdict(self)

    def replace(self, **changes) -> "Options":
        """A copy with ``changes`` applied, validated like a new one."""
        _check_names(changes)
        return replace(self, **changes)


def _check_names(kwargs: dict) -> None:
    allowed = [f.name for f in fields(Options)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; allowed: {allowed}")


def make_options(options: Options | None = None, **kwargs) -> Options:
    """An :class:`Options` from an existing one and/or keyword options (keywords win)."""
    if options is not None and not isinstance(options, Options):
        raise ValueError(f"options must be a simulate.Options; got {type(options).__name__}")
    _check_names(kwargs)
    if options is None:
        return Options(**kwargs)
    return options.replace(**kwargs) if kwargs else options
