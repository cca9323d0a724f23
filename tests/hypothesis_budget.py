"""How many examples a property test draws: its own number, or a tenth of it (at least 10) when
the test runs under mutation testing. mutmut sets MUTANT_UNDER_TEST in every process it runs tests
in, and runs each mutant against the tests that call it: a tenth of the examples still draws the
cases a property pins, at a tenth of the time, so a full `make mutate` fits a session on 2 cores.
(tests/ is on sys.path: pytest puts the directory of tests/conftest.py there.)"""
from __future__ import annotations

import os

UNDER_MUTATION = "MUTANT_UNDER_TEST" in os.environ


def examples(count: int) -> int:
    return max(10, count // 10) if UNDER_MUTATION else count
