"""Issue 19, class 3: output paths that cannot be written are refused before the work."""

from __future__ import annotations

import time

import pytest
from cli_cases import PATH_CASES, run_case


@pytest.mark.parametrize("case", PATH_CASES, ids=lambda c: c.id)
def test_an_unwritable_output_is_refused_before_the_work(work, case, tmp_path):
    t0 = time.perf_counter()
    run_case(work, case, tmp_path)
    assert time.perf_counter() - t0 < 60  # before the models, meshes and optimisation
