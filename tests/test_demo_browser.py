"""The browser demo in a real browser: Debian's headless Chromium (selenium) against the page on 127.0.0.1."""

import json

import pytest
from browser_fixtures import chromium_driver
from ports import free_port
from pose_model_fixtures import SAMPLE_IMAGES
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from blip_pose.demo_app import build_demo, launch
from blip_pose.keypoints.mpii import MPII16
from blip_pose.predictor import PosePredictor

TIMEOUT_S = 30


@pytest.fixture(scope="module")
def url(model_dir):
    """The demo of the tiny model, recorded as trained on the synthetic sample, served on a free port."""
    (model_dir / "run_config.json").write_text(json.dumps({"data": {"dataset_name": "sample"}}))
    demo = build_demo(PosePredictor.from_pretrained(model_dir, device="cpu"), model_dir, SAMPLE_IMAGES[:3])
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def browser():
    driver = chromium_driver()
    yield driver
    driver.quit()


def upload(browser, url, path):
    browser.get(url)
    wait = WebDriverWait(browser, TIMEOUT_S)
    field = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#photo input[type=file]"))
    field.send_keys(str(path))
    wait.until(lambda b: b.find_element(By.ID, "message").text.strip())
    return browser.find_element(By.ID, "message").text


def test_upload_shows_the_overlay_and_the_16_joints(url, browser, tmp_path):
    message = upload(browser, url, SAMPLE_IMAGES[0])
    overlay = browser.find_element(By.CSS_SELECTOR, "#overlay img")
    browser.save_screenshot(str(tmp_path / "result.png"))
    assert f"joints found in {SAMPLE_IMAGES[0].name} (640x360 px)" in message
    assert overlay.is_displayed() and browser.execute_script("return arguments[0].naturalWidth", overlay) == 640
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#joints [role=gridcell][data-col='0']")]
    assert names == list(MPII16.captions)
    assert browser.find_element(By.CSS_SELECTOR, "#caption textarea").get_attribute("value")
    assert "trained on synthetic data" in browser.find_element(By.ID, "model-summary").text
    assert (tmp_path / "result.png").stat().st_size > 10_000


def test_non_image_upload_shows_a_message_not_a_traceback(url, browser, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("these are notes, not a photo")
    message = upload(browser, url, notes)
    browser.save_screenshot(str(tmp_path / "bad-upload.png"))
    assert message == "Cannot use this upload: notes.jpg: not a readable image file [not_an_image]"
    assert not browser.find_elements(By.CSS_SELECTOR, "#overlay img")
    assert "Traceback" not in browser.page_source


def test_nothing_covers_the_overlays_colour_key(url, browser, tmp_path):
    upload(browser, url, SAMPLE_IMAGES[0])
    overlay = browser.find_element(By.CSS_SELECTOR, "#overlay img")
    browser.save_screenshot(str(tmp_path / "overlay.png"))
    top = overlay.rect["y"]
    # Gradio's label badge sat at the image's top-left, over the overlay's header (its label and colour key).
    badges = [
        b for b in browser.find_elements(By.CSS_SELECTOR, "#overlay [data-testid=block-label]") if b.is_displayed()
    ]
    assert not [b for b in badges if b.rect["y"] + b.rect["height"] > top]


def test_without_chromium_the_browser_tests_skip_with_the_reason(tmp_path, monkeypatch):
    """`make test` on a machine where Chromium could not be installed: a one-line skip, not selenium's error;
    under CI (BLIP_POSE_REQUIRE_BROWSER=1) the same is a failure."""
    import browser_fixtures

    monkeypatch.setattr(browser_fixtures, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("BLIP_POSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"no {tmp_path / 'chromium'}.*chromium-driver"):
        chromium_driver()
    monkeypatch.setenv("BLIP_POSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="install Debian's chromium"):
        chromium_driver()
