"""app.py served for real on 127.0.0.1: driven through gradio_client and in a real browser (Debian's
headless Chromium under Playwright). The app runs a small random-weights bundled file made in the
test (CHROMAFILL_APP_CHECKPOINT=bundled serves the shipped model instead, for the README screenshot:
CHROMAFILL_SCREENSHOT=docs/webapp.png writes one).

Gradio, gradio_client, Playwright and Chromium are the `app` / `dev` extras and .ci/run's apt step:
missing, these tests skip on a developer's machine but FAIL in CI (CI=true), so CI never passes
without having run them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Iterator

import cv2
import numpy as np
import pytest

from data.skimage_samples import load_sample
from tests.bundled_fixture import random_bundled
from tests.test_restore_service import photo, write
from trainers import restore_service as rs
from utils.color import pil_luma

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120  # importing torch and Gradio on a busy 2-core machine


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(module: str) -> ModuleType:
    """An optional test dependency: a skip on a developer's machine, a failure in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[dev,app]')"
        if in_ci():
            pytest.fail(f"{message}: CI must run the web app tests")
        pytest.skip(message)


def chromium() -> str:
    """Debian's Chromium (CHROMAFILL_CHROMIUM overrides): a skip on a developer's machine without it, a failure in CI."""
    found = os.environ.get("CHROMAFILL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "no chromium on PATH (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"{message}: CI must run the browser test; .ci/run installs it")
        pytest.skip(message)
    return found


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_browser_or_package_fails_in_ci_and_skips_elsewhere(ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("CHROMAFILL_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="apt-get install chromium"):
        chromium()
    with pytest.raises(outcome, match="no_such_module_for_the_app is not installed"):
        require("no_such_module_for_the_app")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py --checkpoint <random bundled file> --port <free>`; its URL once it answers."""
    require("gradio")
    tmp = tmp_path_factory.mktemp("app")
    checkpoint = os.environ.get("CHROMAFILL_APP_CHECKPOINT") or str(random_bundled(tmp))
    port = free_port()
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py", "--checkpoint", checkpoint, "--port", str(port)], cwd=REPO,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer within {START_TIMEOUT_S} s: {(tmp / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    broken = folder / "broken.png"
    broken.write_bytes(b"this is not a picture")
    cat = load_sample("chelsea")  # a real photo (shipped inside scikit-image) for the browser and its screenshot
    return {"photo": write(folder / "photo.png", photo(120, 160, seed=9)), "broken": broken,
            "cat": write(folder / "chelsea.png", cat if cat is not None else photo(170, 256)),
            "huge": write(folder / "huge.png", np.zeros((8, rs.MAX_SIDE + 8, 3), np.uint8))}


def read_png(path: str | Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_gradio_client_restores_and_bad_input_is_a_message_while_the_server_keeps_serving(
        server: str, files: dict[str, Path]) -> None:
    client_module = require("gradio_client")
    client = client_module.Client(server, verbose=False)
    upload = client_module.handle_file

    _, _, status = client.predict(upload(str(files["photo"])), api_name="/load")
    assert "160x120 colour photo" in status

    def restore(path: Path | None, mode: str = "seeded", editor: dict | None = None) -> tuple:
        return client.predict(None if path is None else upload(str(path)), editor, mode, 2, api_name="/restore")

    for bad, message in ((files["broken"], "Error: broken.png: not a readable image"),
                         (files["huge"], f"photos up to {rs.MAX_SIDE} pixels on the long side"),
                         (None, "Upload a photo first")):
        *outputs, status = restore(bad)
        assert message in status and all(output in (None, "") for output in outputs), status
    input_view, restored, original, uncertainty, score, png, status = restore(files["photo"])
    assert status.startswith("Restored photo.png (160x120)"), status
    rgb = read_png(files["photo"])
    gray, _ = rs.seeded_damage(rgb, 2)
    result = read_png(restored)
    assert result.shape == rgb.shape and not np.array_equal(result, np.repeat(gray[:, :, None], 3, axis=2))
    assert np.array_equal(read_png(png), result) and Path(png).name == "photo_restored.png"
    assert np.array_equal(read_png(original), rgb) and read_png(uncertainty).shape == rgb.shape
    assert "**restoration**" in score


def test_gradio_client_paints_a_hole(server: str, files: dict[str, Path], tmp_path: Path) -> None:
    client_module = require("gradio_client")
    client = client_module.Client(server, verbose=False)
    layer = np.zeros((120, 160, 4), np.uint8)
    layer[30:60, 40:100] = (255, 48, 48, 255)
    cv2.imwrite(str(tmp_path / "layer.png"), cv2.cvtColor(layer, cv2.COLOR_RGBA2BGRA))
    editor = {"background": client_module.handle_file(str(files["photo"])),
              "layers": [client_module.handle_file(str(tmp_path / "layer.png"))], "composite": None, "id": None}
    input_view, *_, status = client.predict(client_module.handle_file(str(files["photo"])), editor, "painted", 0,
                                            api_name="/restore")
    assert "painted hole was filled" in status, status
    outline = np.all(read_png(input_view) == rs.OUTLINE_RGB, axis=2)
    assert outline[30, 70] and not outline[45, 70] and not outline[100, 20]
    gray = pil_luma(read_png(files["photo"]))
    assert (cv2.cvtColor(read_png(input_view), cv2.COLOR_RGB2GRAY)[35:55, 45:95] == 40).all() and gray[45, 70] != 40


def test_a_real_browser_uploads_restores_and_shows_a_bad_file_message(server: str, files: dict[str, Path]) -> None:
    """Headless Chromium: upload, Restore, the restored picture (its size, not the input), a broken file's message."""
    executable = chromium()
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(server)
            upload(page, files["cat"])
            page.wait_for_function("document.querySelector('#status').innerText.includes('colour photo')")
            page.click("#restore")
            page.wait_for_function("document.querySelector('#status').innerText.startsWith('Restored')")
            shown = page.locator("#restored img")
            shown.wait_for()
            cat = cv2.imread(str(files["cat"]))
            size = shown.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
            assert size == [cat.shape[1], cat.shape[0]]
            restored = fetch_png(page, shown)
            damaged = fetch_png(page, page.locator("#input_view img"))
            assert restored.shape == damaged.shape == cat.shape and not np.array_equal(restored, damaged)
            assert not np.array_equal(restored, cat)
            assert page.locator("#score").inner_text().count("restoration") == 1
            if os.environ.get("CHROMAFILL_SCREENSHOT"):
                page.screenshot(path=os.environ["CHROMAFILL_SCREENSHOT"], full_page=True)
            upload(page, files["broken"])
            message = page.locator("#status", has_text="Error: broken.png: not a readable image")
            message.wait_for()
            assert message.is_visible()
        finally:
            browser.close()


def upload(page: object, path: Path) -> None:
    """Through the page's own file dialog, as a person would (the input element is hidden); a file
    already there is cleared first, with the component's Clear button."""
    clear = page.locator("#upload button[aria-label='Clear']")
    if clear.count():
        clear.click()
    with page.expect_file_chooser() as chooser:
        page.locator("#upload button.upload-container").click()
    chooser.value.set_files(str(path))


def fetch_png(page: object, image: object) -> np.ndarray:
    """The picture an <img> on the page shows, fetched from its address (BGR)."""
    return cv2.imdecode(np.frombuffer(page.request.get(image.get_attribute("src")).body(), np.uint8), cv2.IMREAD_COLOR)
