"""Test set-up: import the package from this tree unless it is installed, and give the tests
a bounded way to run coroutines."""

import asyncio
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
if PKG_ROOT not in sys.path:
    sys.path.insert(0, PKG_ROOT)


@pytest.fixture
def run():
    """run(coro, timeout=10): asyncio.run with a bound, so no test can hang."""

    def _run(coro, timeout=10.0):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return _run
