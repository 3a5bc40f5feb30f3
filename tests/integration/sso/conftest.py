"""Fixtures shared by the SSO integration tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import require_program
from tests.integration.test_browser_landing import CHROMIUM_ARGS


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright (never a downloaded browser), one per module."""
    require_program("chromium", "the page tests drive Debian's Chromium through Playwright")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
