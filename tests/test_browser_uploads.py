"""In headless Chromium: uploading models and pictures, good and bad, through the real file inputs."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.config import SEED
from core.model import build_model
from harness.chromium import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def upload(page, container, path) -> None:
    container.locator('input[type="file"]').set_input_files(str(path))


def test_model_uploads_are_checked(page, app_url, tmp_path):
    page.goto(f"{app_url}/training?view=saved")
    wait_for_app(page)
    page.get_by_text("Upload a model").click()
    expander = page.get_by_test_id("stExpander").filter(has_text="Upload a model")

    fake = tmp_path / "notes.keras"
    fake.write_text("not a model")
    upload(page, expander, fake)
    page.get_by_text("notes.keras was refused.").wait_for(timeout=60_000)
    assert "not a Keras model" in expander.inner_text()

    good = tmp_path / "digits.keras"
    build_model(SEED, (64,)).save(good)  # an (untrained) network for the 8x8 digits
    upload(page, expander, good)
    page.get_by_text("digits.keras reads digits images").wait_for(timeout=60_000)
    screenshot(page, "upload-model")
    assert page.locator('[data-testid="stException"]').count() == 0


def dark_on_light_one() -> bytes:
    image = Image.new("L", (300, 400), 235)  # grey paper
    ImageDraw.Draw(image).line([(150, 60), (140, 340)], fill=20, width=24)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def test_picture_uploads_are_read_or_refused(page, app_url, tmp_path):
    page.goto(f"{app_url}/predict")
    wait_for_app(page)
    page.locator("canvas.upper-canvas").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Upload a picture").click()
    panel = page.get_by_role("tabpanel", name="Upload a picture")

    photo = tmp_path / "one.jpg"
    photo.write_bytes(dark_on_light_one())
    upload(page, panel, photo)
    metric = panel.get_by_test_id("stMetric").filter(has_text="Prediction")
    metric.wait_for(timeout=60_000)
    assert metric.get_by_test_id("stMetricValue").inner_text().strip() == "1"
    screenshot(page, "upload-picture")

    broken = tmp_path / "broken.png"
    broken.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    upload(page, panel, broken)
    page.get_by_text("broken.png cannot be used.").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
