"""Helpers for the browser tests (not a test module): the API as a real uvicorn process, and Debian's
headless Chromium driven by selenium through /usr/bin/chromedriver, cut off from every other host."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, kill_process_group

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """`uvicorn services.api.app:app_from_env` on 127.0.0.1:port; restartable on the same port."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> ApiServer:
        self.starts += 1
        with open(self.log_dir / f"api-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "services.api.app:app_from_env"]
                + ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited: {(self.log_dir / f'api-{self.starts}.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the API did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is not None:
            kill_process_group(self.proc, grace=3)
            self.proc = None


#: The window a driver opens with (a laptop screen).
DEFAULT_WINDOW = (1360, 1000)


def chromium_driver(window: tuple[int, int] = DEFAULT_WINDOW) -> Any:
    """Headless Chromium that can reach 127.0.0.1 only; its performance log records every request."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are absent (make setup installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={tempfile.mkdtemp(prefix='distillery-chromium-')}",
        f"--window-size={window[0]},{window[1]}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def requested_urls(driver: Any) -> list[str]:
    """URLs the page requested since the last call (Chromium's performance log), less those the browser
    itself blocked before sending (a Content-Security-Policy refusal never leaves the machine)."""
    import json

    urls: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return [url for request_id, url in urls.items() if request_id not in blocked]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the element is not there yet, or was just replaced
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def sign_in(driver: Any, base_url: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/")
    field = wait_for(lambda: driver.find_element(By.ID, "key"), 20, "the sign-in form")
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form.signin-card button[type=submit]").click()
