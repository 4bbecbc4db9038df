"""core.state is the one table of Digit Lab's state: every file a session leaves in the model folder matches one of
its entries, every session-state key the pages keep is one of them, and docs/state.md is the table as printed."""

from __future__ import annotations

import dataclasses
import fnmatch
import subprocess
import sys
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core import classroom, state
from core.config import SEED
from core.files import write_atomically
from core.my_digits import MyDigitsStore
from core.names import NameBook
from core.runs import LocalReporter, RunResult, RunState, TrainingRequest
from core.store import RunRecord, RunStore, new_run_id
from core.sweeps import Sweep, SweepBook
from core.teacher_gate import TeacherGate
from core.training import run_training
from core.zip_import import save_uploaded_dataset

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["home", "dataset", "model", "training", "predict", "inside", "leaderboard", "teacher"]


def test_the_docs_are_the_table_as_printed():
    printed = subprocess.run([sys.executable, "-m", "core.state"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert (ROOT / "docs" / "state.md").read_text() == printed.stdout, "run: python -m core.state > docs/state.md"


def test_every_place_is_named_once_and_says_who_writes_reads_and_how_long():
    names = [(place.home, place.name) for place in state.PLACES]
    assert len(names) == len(set(names))
    for place in state.PLACES:
        assert place.what and place.writer and place.readers and place.lifetime, place
        assert bool(place.pattern) == (place.home in (state.MODEL_FOLDER, state.RUN_FOLDER)), place


def test_every_file_a_session_leaves_in_the_model_folder_is_in_the_table(model_dir, mnist):
    """A run trained and kept, an uploaded model, a dataset, labelled digits, names, the challenge, scores, a wrong
    teacher key, a sweep, an upload on its way to a task: each file they leave matches an entry's pattern."""
    store = RunStore(model_dir)
    run_id = new_run_id()
    config = dataclasses.replace(SEED, units=16, epochs=2)
    run_training(TrainingRequest(run_id, config, "mnist", 500, store_root=str(model_dir)), LocalReporter())
    store.save(RunRecord(new_run_id(), "mnist", {}, RunState.UPLOADED, RunResult()), b"a model's bytes")
    MyDigitsStore(model_dir, "mnist").add(mnist.x_test[0] / 255, 7, "an-owner")
    NameBook(model_dir).set("an-owner", "Ada")
    classroom.set_challenge(model_dir, classroom.Challenge(max_epochs=3))
    classroom.keep_scores(model_dir, {run_id: {"digits": "v1", "accuracy": 1.0, "count": 1}})
    TeacherGate(model_dir).try_key("an-owner", "wrong", "right", "10.0.0.1")
    sweep = Sweep(new_run_id(), "an-owner", ("units", "epochs"), (run_id,), (config,), "mnist")
    with SweepBook(model_dir).adding(sweep):
        pass
    from core.data import load_dataset

    digits = load_dataset("digits")
    save_uploaded_dataset(dataclasses.replace(digits, name="uploaded:ours"), model_dir / state.DATASETS_FOLDER)
    (model_dir / state.SPOOL_FOLDER).mkdir()
    write_atomically(model_dir / state.SPOOL_FOLDER / "0123abcd.upload", b"an upload")

    files = [path.relative_to(model_dir).as_posix() for path in model_dir.rglob("*") if path.is_file()]
    patterns = [place.pattern for place in state.PLACES if place.pattern]
    assert len(files) > 15
    unlisted = [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    assert unlisted == [], f"files core.state does not name: {unlisted}"
    kinds = {pattern for pattern in patterns if any(fnmatch.fnmatch(name, pattern) for name in files)}
    assert {"*/run.json", "*/epochs/epoch-*.npz", "*/logs/*", "my-digits-*.npz", ".*.lock"} <= kinds


def test_every_key_a_page_keeps_in_the_session_is_in_the_table(model_dir, trained_run, mnist):
    """Every page, opened through app.py in one session (a drawing kept, a run followed): the session-state keys
    that are not widgets' own are all named by core.state."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    app.session_state[state.LATEST_DRAWING_KEY] = {"image": mnist.x_test[0] / 255.0, "run_id": trained_run}
    app.query_params["run"] = trained_run
    kept: set[str] = set()
    for page in PAGES:
        app.switch_page(f"pages/{page}.py").run()
        assert not app.exception, page
        session = app.session_state._state._state
        widgets = set(session._key_id_mapper._key_id_mapping)
        kept |= {key for key in session.filtered_state if key not in widgets}
    named = {place.name for place in state.PLACES if place.home == state.SESSION}
    panel = {key for key in kept if key.startswith(state.PANEL_WIDGET_PREFIX)}
    assert kept - panel <= named, f"session keys core.state does not name: {sorted(kept - panel - named)}"
    assert {state.CONFIG_KEY, state.LATEST_DRAWING_KEY, state.SESSION_OWNER_KEY} <= kept


def test_a_file_written_atomically_leaves_nothing_beside_it(model_dir):
    target = model_dir / "names.json"
    write_atomically(target, "first")
    write_atomically(target, np.arange(3).tobytes())
    assert target.read_bytes() == np.arange(3).tobytes()
    assert [path.name for path in model_dir.iterdir()] == ["names.json"]
