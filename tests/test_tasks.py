"""core.tasks: imports and model checks on a real Dask cluster, with progress, Cancel and a time budget; and the
Dataset page showing an import's progress bar and Cancel (AppTest)."""

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from core.config import SEED
from core.data import uploaded_dataset_names
from core.model import build_model, model_to_bytes
from core.store import RunStore
from core.tasks import CANCELLED, Task, TaskState, check_model, import_digits
from harness.waiting import wait_until
from tests.apptest import open_page, plain

pytestmark = pytest.mark.cluster
TIMEOUT = 180


def digits_zip(mnist, count: int) -> bytes:
    """Real digits as photos come: dark on light, 84x84, in folders 0 to 9."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            png = io.BytesIO()
            Image.fromarray(255 - mnist.x_train[index]).resize((84, 84)).save(png, format="PNG")
            archive.writestr(f"digits/{mnist.y_train[index]}/{index}.png", png.getvalue())
    return buffer.getvalue()


@pytest.fixture
def spool(tmp_path) -> Path:
    return tmp_path / "spool"


@pytest.fixture(scope="module")
def big_zip(mnist) -> bytes:
    return digits_zip(mnist, 4_000)  # several seconds of work for a worker


def finish(task: Task, timeout: float = TIMEOUT) -> TaskState:
    return wait_until(lambda: (state := task.state()).finished and state, timeout, "the task's end")


def wait_for_progress(task: Task) -> TaskState:
    def progressed() -> TaskState | None:
        state = task.state()
        return state if state.fraction > 0 or state.finished else None

    return wait_until(progressed, TIMEOUT, "the task's progress")


def test_an_import_runs_on_a_worker_and_keeps_the_set(spool, training_cluster, mnist, tmp_path):
    task = Task(
        training_cluster.client(), spool, "class 3.zip", import_digits, digits_zip(mnist, 40), "class 3", str(tmp_path)
    )
    state = finish(task)
    assert state.error is None and state.result == "uploaded:class-3"
    assert uploaded_dataset_names(tmp_path) == ["uploaded:class-3"]


def test_a_refused_zip_gives_its_reason(spool, training_cluster, tmp_path):
    state = finish(Task(training_cluster.client(), spool, "x.zip", import_digits, b"not a zip", "x", str(tmp_path)))
    assert state.error == "This is not a zip archive." and state.result is None


def test_cancel_stops_an_import_and_keeps_nothing(spool, training_cluster, big_zip, tmp_path):
    task = Task(training_cluster.client(), spool, "big.zip", import_digits, big_zip, "big", str(tmp_path))
    running = wait_for_progress(task)
    assert 0 < running.fraction < 1 and "pictures" in running.message
    task.cancel()
    state = finish(task, timeout=30)
    assert state.error == CANCELLED and uploaded_dataset_names(tmp_path) == []


def test_an_import_past_its_time_budget_stops_with_a_clear_message(spool, training_cluster, big_zip, tmp_path):
    task = Task(
        training_cluster.client(), spool, "big.zip", import_digits, big_zip, "big", str(tmp_path), budget_seconds=1
    )
    state = finish(task, timeout=60)
    assert state.error.startswith("It took longer than the 1 s a task may take")
    assert uploaded_dataset_names(tmp_path) == []


def test_a_model_is_checked_evaluated_and_kept_on_a_worker(spool, training_cluster, tmp_path):
    data = model_to_bytes(build_model(SEED, (784,)))  # an untrained network reads about 10% right
    state = finish(Task(training_cluster.client(), spool, "mine.keras", check_model, data, "mine.keras", str(tmp_path)))
    assert state.error is None
    record = RunStore(tmp_path).get(state.result)
    assert record.source == "uploaded: mine.keras" and 0 <= record.result.test_accuracy < 0.3
    assert record.card["multiply_adds"] == 784 * 512 + 512 * 10


def test_a_hostile_model_is_refused_by_the_worker_with_its_reason(spool, training_cluster, tmp_path):
    state = finish(
        Task(
            training_cluster.client(),
            spool,
            "x.keras",
            check_model,
            b"PK\x05\x06" + bytes(18),
            "x.keras",
            str(tmp_path),
        )
    )
    assert state.error and "worker" not in state.error and RunStore(tmp_path).records() == []


def test_the_dataset_page_shows_an_import_s_progress_and_cancel(spool, training_cluster, big_zip, model_dir):
    from core.data import uploaded_folder

    task = Task(
        training_cluster.client(),
        spool,
        "class <b>4</b>.zip",
        import_digits,
        big_zip,
        "class 4",
        str(uploaded_folder()),
    )
    wait_for_progress(task)
    app = open_page("pages/dataset.py", digits_import=task)
    assert not app.exception
    [bar] = [element for element in app.get("progress")]
    assert plain(bar.proto.text).startswith("class <b>4</b>.zip: ") and plain(bar.proto.text).endswith("pictures")
    assert r"\<b\>" in bar.proto.text  # the file name escaped: shown as it is, never as HTML
    cancel = app.button(key="digits_import-cancel")
    cancel.click().run()
    wait_until(lambda: "digits_import" not in app.run().session_state, 30, "the import's stop", every=0.3)
    assert not app.exception
    assert "was refused" in app.error[0].value and CANCELLED.rstrip(".") in app.error[0].value
    assert not any("class-4" in name for name in uploaded_dataset_names())
