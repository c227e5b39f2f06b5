"""Issue 19, class 4: values out of range, batches too large for memory, devices that are not there."""

from __future__ import annotations

import pytest
from cli_cases import VALUE_CASES, run_case


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda c: c.id)
def test_bad_values_and_devices_are_refused(work, case, tmp_path):
    run_case(work, case, tmp_path)
