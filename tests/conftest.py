"""Fixtures shared by several test files."""

import pytest
from cli_cases import make_work


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A user's working folder for the command-line cases (:func:`cli_cases.make_work`), per module."""
    return make_work(tmp_path_factory)
