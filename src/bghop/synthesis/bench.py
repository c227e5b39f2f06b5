"""Deprecated location of the benchmark: it is the package :mod:`bghop.bench` now.

``from bghop.synthesis.bench import run_benchmark`` (and every other name it had) keeps working for
one release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings

warnings.warn("bghop.synthesis.bench moved to bghop.bench; import from there", DeprecationWarning, stacklevel=2)

from bghop.bench import *  # noqa: E402,F401,F403
from bghop.bench import __all__  # noqa: E402,F401
from bghop.bench.objects import canonical_mesh as _canonical  # noqa: E402,F401
from bghop.eval.ranking import BEST_OF_N as _BEST  # noqa: E402

#: the best-of-N rule, in the dict form of earlier versions (its keys changed with the lexicographic ranking)
BEST_WEIGHTS = _BEST.to_dict()
