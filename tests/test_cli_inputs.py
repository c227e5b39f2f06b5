"""Issue 19, class 5: degenerate meshes and corrupt data files are refused, naming the file."""

from __future__ import annotations

import pytest
from cli_cases import INPUT_CASES, run_case


@pytest.mark.parametrize("case", INPUT_CASES, ids=lambda c: c.id)
def test_degenerate_and_corrupt_inputs_are_refused(work, case, tmp_path):
    run_case(work, case, tmp_path)
