"""The C++ real-time checks, the effect's harness and its editor built with AddressSanitizer + UndefinedBehaviorSanitizer run clean
(the checks: tests/sanitizers.py)."""

from __future__ import annotations

import pytest
from sanitizers import *  # the checks, collected here with this file's sanitizer


@pytest.fixture(scope="module")
def kind() -> str:
    return "address"
