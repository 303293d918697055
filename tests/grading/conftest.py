"""Shared fixtures of the grading tests: the tiny fixture lab ``lab99_demo`` and its checks."""

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The fixture lab's checks modules (lab99_checks, lab99_checks_hidden) live next to its solution;
# the grader passes this folder on to its kernels by itself.
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def solutions_dir() -> Path:
    return FIXTURES / "solutions"


@pytest.fixture
def solution_path() -> Path:
    return FIXTURES / "solutions" / "lab99_demo.ipynb"
