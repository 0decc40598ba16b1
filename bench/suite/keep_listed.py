"""A pytest plugin for bench/suite_same_tests.sh: keep only the test ids listed in the file $KEEP_IDS (one per
line, as ``pytest --collect-only -q`` prints them), so two commits can be timed on exactly the same tests."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    with open(os.environ["KEEP_IDS"], encoding="utf-8") as listed:
        wanted = set(listed.read().splitlines())
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in wanted])
    items[:] = [item for item in items if item.nodeid in wanted]
