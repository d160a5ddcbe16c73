"""Markers of the harness tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: runs on a local Ray instance (`pytest -m ray` selects them; "
                                       "`-m 'not ray'` skips them)")
