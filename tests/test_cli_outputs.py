"""Issue 19, class 1: an output folder that already holds someone's files is refused (and with
``--overwrite`` only bghop's own files are replaced: tests/test_cli_overwrite.py)."""

from __future__ import annotations

import pytest
from cli_cases import OUTPUT_CASES, run_case


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=lambda c: c.id)
def test_an_output_folder_with_other_files_is_refused(work, case, tmp_path):
    run_case(work, case, tmp_path)
