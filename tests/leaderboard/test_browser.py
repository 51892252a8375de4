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
    "leaderboard": (
        ["Leaderboard", "smollm2-135m-instruct", "gemma-3-270m", "Download CSV"],
        False,
        1100,
    ),
    "accuracy-vs-speed": (["Accuracy vs speed", "Pareto frontier", "orthorank"], True, 1150),
    "run?run={shortgpt}": (
        ["Run detail", "in order: 25 → 26 → 24 → 27 → 23 → 22", "Provenance"],
        True,
        1300,
    ),
    "run?run={sink}": (["Diagnostics", "mean_cos", "sink_change", "analysis/sink"], True, 1500),
    "compare?runs={dense},{shortgpt},{sleb}": (["Compare runs", "differs", "Δ #"], False, 1500),
    "queue": (["Queue", "zeroshot: 45%", "CUDA out of memory", "device auto"], False, 1150),
}
SHOT_WIDTH = 1600  # screenshots are saved at this width and committed to docs/images


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
    yield from _serve(*seeded, tmp_path)


@pytest.fixture
def eval_server(tmp_path, monkeypatch):
    from leaderboard.seed import seed_evaluations

    url = f"sqlite:///{tmp_path / 'eval.db'}"
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    yield from _serve(url, seed_evaluations(url), tmp_path)


def _serve(url: str, runs: dict[str, int], tmp_path: Path):
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
    from selenium.webdriver.common.by import By

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
        browser.set_window_size(SHOT_WIDTH, height)
        browser.get(f"http://127.0.0.1:{port}/{path.format(**ids)}")
        _wait_for_text(browser, texts)
        if chart:
            assert _chart_drawn(browser), f"no chart drawn on {name}"
        if name == "leaderboard":
            shown = _wait_for_text(browser, [str(i) for i in ids.values()])
            assert "Perplexity · WikiText-2" in shown
            assert "Deploy" not in browser.find_element(By.TAG_NAME, "body").text
        _shoot(browser, name)
    _copy_to_docs()


def _shoot(browser, name: str) -> None:
    time.sleep(1.0)  # let the grid and charts finish painting
    shot = SHOTS / f"{name}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000


def _copy_to_docs() -> None:
    """SKIPBENCH_UPDATE_DOC_IMAGES=1: the screenshots become docs/images/leaderboard-*.png."""
    if not os.environ.get("SKIPBENCH_UPDATE_DOC_IMAGES"):
        return
    for shot in SHOTS.glob("*.png"):
        out = ROOT / "docs" / "images" / f"leaderboard-{shot.name}"
        try:  # 128 colours keep each image near 50 KB
            from PIL import Image

            image = Image.open(shot).convert("RGB")
            image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        except ImportError:
            shutil.copy(shot, out)


def _chart_texts(driver) -> list[str]:
    """The text marks of the page's charts (Vega draws small charts as SVG)."""
    from selenium.webdriver.common.by import By

    marks = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stVegaLiteChart] svg text")
    return [m.get_attribute("textContent") or "" for m in marks]


def test_merged_rows_and_labelled_points_in_chromium(eval_server, browser):
    """The evaluation store on screen: the row count, the merged dense row's values (its
    perplexity and zero-shot average came from two runs), the settings columns, a filter
    from the URL, and the chart's labelled points per device."""
    from selenium.webdriver.common.by import By

    from db.evaluation import merge_runs
    from db.store import Store

    port, ids = eval_server
    store = Store(os.environ["SKIPBENCH_DATABASE_URL"], migrate=False)
    runs = store.runs(status="succeeded")
    suites = {}
    for r in store.results([run.id for run in runs]):
        suites.setdefault(r.run_id, set()).add(r.suite)
    rows = merge_runs(runs, suites)
    browser.set_window_size(SHOT_WIDTH, 1000)
    browser.get(f"http://127.0.0.1:{port}/")
    shown = _wait_for_text(browser, ["Leaderboard", "Download CSV"])
    assert browser.current_url.rstrip("/").endswith("/leaderboard")  # "/" opens the board's path
    assert "Deploy" not in browser.find_element(By.TAG_NAME, "body").text
    browser.get(f"http://127.0.0.1:{port}/leaderboard")
    dense = next(r for r in rows if ids["dense/ppl"] in r.run_ids)
    assert ids["dense/zs"] in dense.run_ids
    # the grid's accessible cells hold raw values: the dense row shows both runs' numbers
    shown = _wait_for_text(
        browser, [f"{len(rows)} rows", f"{dense.anchor} smollm2-135m-instruct dense"]
    )
    line = shown.split(f"{dense.anchor} smollm2-135m-instruct dense", 1)[1].split(" smollm2", 1)[0]
    assert "succeeded 0.7 20.24 " in line, line  # zero-shot average, WikiText-2 perplexity
    browser.get(f"http://127.0.0.1:{port}/leaderboard?suite=throughput")
    shown = _wait_for_text(browser, ["Throughput · prefill 1x2048 speedup"])
    assert "b1x2048" not in shown and "b1p512n128" not in shown
    browser.get(f"http://127.0.0.1:{port}/leaderboard")
    _wait_for_text(browser, [f"{len(rows)} rows"])
    _shoot(browser, "leaderboard-evaluations")
    # the grid draws only the columns in view: one suite's columns leave room for the settings
    browser.get(f"http://127.0.0.1:{port}/leaderboard?suite=perplexity&hide=Layers&hide=Device")
    _wait_for_text(
        browser, ["Limit", "Seq len", "Calibration", "perplexity=1", "c4_2k · 128 × 2048"]
    )
    _shoot(browser, "leaderboard-settings")
    browser.get(f"http://127.0.0.1:{port}/leaderboard?method=orthorank&suite=perplexity")
    _wait_for_text(
        browser, ["2 rows", "orthorank 0.2 last", "orthorank 0.2 0-15"]
    )  # Strategy pinned
    browser.get(f"http://127.0.0.1:{port}/accuracy-vs-speed")
    _wait_for_text(browser, ["Accuracy vs speed", "Pareto frontier"])
    assert _chart_drawn(browser)
    deadline = time.time() + 30
    while time.time() < deadline and "shortgpt 20%" not in _chart_texts(browser):
        time.sleep(0.5)
    labels = _chart_texts(browser)
    assert {"dense", "shortgpt 20%"} <= set(labels), labels
    assert any(t.startswith("ideal 1.25×") for t in labels)
    _shoot(browser, "accuracy-vs-speed-evaluations")
    _copy_to_docs()
