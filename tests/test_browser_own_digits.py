"""In headless Chromium: upload a zip of one's own digit images, see them as a dataset, and test a model on them."""

import io
import zipfile

import pytest
from PIL import Image
from playwright.sync_api import expect

from harness.chromium import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def digits_zip(mnist, count: int = 40, notes: bool = True) -> bytes:
    """Real handwritten digits as photos would come: dark ink on light paper, larger than 28x28, in folders 0-9."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            picture = Image.fromarray(255 - mnist.x_test[index]).resize((84, 84))
            png = io.BytesIO()
            picture.save(png, format="PNG")
            archive.writestr(f"digits/{mnist.y_test[index]}/{index}.png", png.getvalue())
        if notes:
            archive.writestr("digits/7/notes.txt", "not a picture")
    return buffer.getvalue()


def test_an_uploaded_image_set_becomes_a_dataset_and_a_model_is_tested_on_it(page, app_url, mnist, tmp_path):
    zipped = tmp_path / "class 3.zip"
    zipped.write_bytes(digits_zip(mnist))
    page.goto(f"{app_url}/dataset")
    wait_for_app(page)
    page.get_by_text("Bring your own digits").click()
    page.get_by_test_id("stExpander").filter(has_text="Bring your own digits").locator(
        'input[type="file"]'
    ).set_input_files(str(zipped))
    page.get_by_text("Uploaded: class 3, 40 images").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert "1 files of the zip could not be used" in page.get_by_test_id("stMain").inner_text()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6", timeout=60_000)
    screenshot(page, "own-digits-dataset")

    page.get_by_role("link", name="Draw & predict").click()  # the sidebar keeps the uploaded set
    wait_for_app(page)
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
    accuracy.wait_for(timeout=60_000)
    assert "of 8 wrong" in accuracy.inner_text()  # its test split: 8 of the 40 images
    screenshot(page, "own-digits-predict")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_2000_image_set_imports_on_the_cluster_with_a_progress_bar_then_shows_in_the_sidebar(
    page, app_url, mnist, tmp_path
):
    zipped = tmp_path / "whole class.zip"
    zipped.write_bytes(digits_zip(mnist, count=2_000, notes=False))
    page.goto(f"{app_url}/dataset")
    wait_for_app(page)
    page.get_by_text("Bring your own digits").click()
    page.get_by_test_id("stExpander").filter(has_text="Bring your own digits").locator(
        'input[type="file"]'
    ).set_input_files(str(zipped))
    bar = page.get_by_test_id("stProgress").filter(has_text="whole class.zip")
    bar.wait_for(timeout=60_000)  # read by a worker, a bar here meanwhile
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    screenshot(page, "own-digits-importing")
    page.get_by_text("Uploaded: whole class, 2,000 images").first.wait_for(timeout=120_000)
    wait_for_app(page)
    chosen = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")
    expect(chosen).to_have_value("Uploaded: whole class, 2,000 images")  # the set, chosen for every page
    assert page.locator('[data-testid="stException"]').count() == 0
