"""The web page of `graft serve` in headless Chromium: upload a real cell image, read the rendered bars."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or shutil.which("chromium-driver")
    return (browser, driver) if browser and driver else None


@pytest.fixture()
def server_url(image_bundle):
    import uvicorn

    from graft.deploy.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(image_bundle), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.mark.skipif(_chromium() is None, reason="Chromium and its driver are not installed (scripts/setup.sh "
                    "installs Debian's chromium and chromium-driver where it can)")
def test_page_shows_the_prediction_of_an_uploaded_image(server_url, elpv_slice):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(server_url)
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert "image-classification" in driver.find_element(By.ID, "title").text
        cell = next((elpv_slice / "test" / "defective").glob("*.png"))
        driver.find_element(By.ID, "file").send_keys(str(cell))
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "result").get_attribute("data-done"))
        names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#result .bar .name")]
        assert sorted(names) == ["defective", "functional"]
        assert driver.find_element(By.ID, "error").text == ""
        assert driver.find_element(By.ID, "canvas").is_displayed()
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "serve-page.png"))
    finally:
        driver.quit()
