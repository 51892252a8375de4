"""The real thing: ``skipbench leaderboard`` on a free port, each page in headless Chromium.

Screenshots land in ``artifacts/leaderboard/`` (git-ignored); docs/images holds copies.
Skips only where Chromium, its driver or Selenium is not installed (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "leaderboard"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1200",
]
# url path -> (text that must be on screen, whether a chart must be drawn, screenshot height)
PAGES = {
    "": (["Leaderboard", "smollm2-135m-instruct", "gemma-3-270m", "Download CSV"], False, 1100),
    "accuracy-vs-speed": (["Accuracy vs speed", "Pareto frontier", "orthorank"], True, 1150),
    "run?run={shortgpt}": (
        ["Run detail", "in order: 25 → 26 → 24 → 27 → 23 → 22", "Provenance"],
        True,
        1300,
    ),
    "run?run={sink}": (["Diagnostics", "mean_cos", "sink_change", "analysis/sink"], True, 1500),
    "compare?runs={dense},{shortgpt},{sleb}": (["Compare runs", "differs", "Δ #"], False, 1500),
    "queue": (["Queue", "zeroshot: 45%", "CUDA out of memory"], False, 1150),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"skipbench leaderboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("leaderboard did not become healthy")


@pytest.fixture
def browser(tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip(
            f"Chromium not installed ({CHROMIUM}, {DRIVER}); apt-get install chromium chromium-driver"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium not installed (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def server(seeded, tmp_path):
    url, runs = seeded
    port = _free_port()
    env = {**os.environ, "SKIPBENCH_DATABASE_URL": url}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "leaderboard", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    try:
        _wait_healthy(port, proc)
        yield port, runs
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_for_text(driver, texts: list[str], timeout: float = 45) -> str:
    from selenium.webdriver.common.by import By

    deadline, body, grid = time.time() + timeout, "", ""
    while time.time() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        # the grid draws on a canvas; its accessible table (hidden, so textContent) holds the cells
        cells = driver.find_elements(By.CSS_SELECTOR, "[role=gridcell], [role=columnheader]")
        grid = " ".join(c.get_attribute("textContent") or "" for c in cells)
        if all(t in body or t in grid for t in texts) and "Running..." not in body:
            return body + grid
        time.sleep(0.5)
    missing = [t for t in texts if t not in body and t not in grid]
    raise AssertionError(f"missing on screen: {missing}\n{body[:1500]}\ngrid: {grid[:500]}")


def _chart_drawn(driver, timeout: float = 30) -> bool:
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        for el in driver.find_elements(
            By.CSS_SELECTOR,
            "[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg",
        ):
            if el.size["width"] > 100 and el.size["height"] > 40:
                return True
        time.sleep(0.5)
    return False


def test_every_page_in_chromium(server, browser):
    port, runs = server
    ids = {
        "dense": runs["smollm2-135m-instruct/dense/0.0"],
        "shortgpt": runs["smollm2-135m-instruct/shortgpt/0.2"],
        "sleb": runs["smollm2-135m-instruct/sleb/0.2"],
        "sink": runs["smol/analysis/sink"],
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    names = [
        "leaderboard",
        "accuracy-vs-speed",
        "run-detail",
        "run-detail-sink",
        "compare",
        "queue",
    ]
    for name, (path, (texts, chart, height)) in zip(names, PAGES.items()):
        browser.set_window_size(1800, height)
        browser.get(f"http://127.0.0.1:{port}/{path.format(**ids)}")
        _wait_for_text(browser, texts)
        if chart:
            assert _chart_drawn(browser), f"no chart drawn on {name}"
        if name == "leaderboard":
            shown = _wait_for_text(browser, [str(i) for i in ids.values()])
            assert "Perplexity · WikiText-2" in shown
        time.sleep(1.0)  # let the grid and charts finish painting
        shot = SHOTS / f"{name}.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
    if os.environ.get("SKIPBENCH_UPDATE_DOC_IMAGES"):
        for shot in SHOTS.glob("*.png"):
            shutil.copy(shot, ROOT / "docs" / "images" / f"leaderboard-{shot.name}")
