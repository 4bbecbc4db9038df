"""Where Digit Lab keeps its state, in one table: every file and folder of the model folder, every name it uses
on the Dask scheduler, every session-state key and link parameter of the pages; who writes each, who reads it and
how long it lives. Every module takes these names from here, so the table cannot miss one that the code uses
(tests/test_state.py checks the folder a real session leaves, the keys the pages set, and docs/state.md).

`python -m core.state` prints the table as Markdown: docs/state.md is that output.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_FOLDER = "model folder"  # DIGITLAB_MODEL_DIR (default ./models): shared by every server and worker
RUN_FOLDER = "run folder"  # <model folder>/<run id>/
SCHEDULER = "scheduler"  # the Dask scheduler: metadata, named Events and Variables, published datasets
SESSION = "session"  # st.session_state: one browser tab's, on the server it is connected to
LINK = "link"  # the page's URL query parameters: a link opens the same state


@dataclass(frozen=True)
class Place:
    """One piece of state: its name (with <placeholders>), where it lives, and its life."""

    home: str
    name: str
    what: str
    writer: str
    readers: str
    lifetime: str
    pattern: str = ""  # files: a glob, relative to the model folder, matching every file it covers


PLACES: list[Place] = []


def _place(home: str, name: str, what: str, writer: str, readers: str, lifetime: str, pattern: str = "") -> str:
    PLACES.append(Place(home, name, what, writer, readers, lifetime, pattern))
    return name


# ---- The model folder -----------------------------------------------------------------------------------------

TEMPORARY_PREFIX = ".tmp-"
_place(
    MODEL_FOLDER,
    ".tmp-*",
    "a file being written, renamed over its real name when whole (core.files.replacing)",
    "whoever writes the file it replaces",
    "nobody",
    "until the rename; one a killed writer left is removed by RunStore.sweep after 10 minutes",
    "*.tmp-*",
)
PARTIAL_PREFIX = ".partial-"
_place(
    MODEL_FOLDER,
    ".partial-<run id>-*/",
    "a run folder being saved whole (an uploaded model) or being removed",
    "the upload task (RunStore.save); the Teacher page (RunStore.remove)",
    "nobody",
    "until renamed into place or deleted; RunStore.sweep removes what a killed save left",
    ".partial-*",
)
CLUSTER_FILE = _place(
    MODEL_FOLDER,
    ".cluster.json",
    "the embedded training cluster's address, process id and scheduler id",
    "the embedded cluster's process (core.cluster) when it starts",
    "every web server (core.cluster_client.TrainingCluster) to find it",
    "while the embedded cluster runs: it removes the file when it exits",
    ".cluster.json",
)
CLUSTER_LOG = _place(
    MODEL_FOLDER,
    ".cluster.log",
    "the embedded cluster's log (its scheduler, workers and runs' warnings); .cluster.log.1 the one before",
    "the embedded cluster's process",
    "people debugging",
    "appended until it passes 5 MB, then rotated when the next cluster starts: at most about 10 MB",
    ".cluster.log*",
)
CLUSTER_LOCK = _place(
    MODEL_FOLDER,
    ".cluster.lock",
    "held while a server starts the embedded cluster: two servers never start two",
    "web servers",
    "web servers",
    "empty; kept",
    ".cluster.lock",
)
_place(
    MODEL_FOLDER,
    ".<file>.lock",
    "the lock that guards a small shared file (core.files.lock_path): names.json, sweeps.json, my digits...",
    "whoever updates that file",
    "whoever updates that file",
    "empty; kept",
    ".*.lock",
)
NAMES_FILE = _place(
    MODEL_FOLDER,
    "names.json",
    "learners' display names by owner id (core.names)",
    "the sidebar's Your name (any server)",
    "every page that shows whose a run is; the leaderboard",
    "until the teacher removes the folder",
    "names.json",
)
LESSON_FILE = _place(
    MODEL_FOLDER,
    "lesson.json",
    "the teacher's lesson controls: closed pages, fixed and bounded hyperparameters, sweeps, the announcement, "
    "a network pushed to every sidebar",
    "the Teacher page (core.lesson.LessonBook)",
    "every page of every server (read again when it changed), and start_training on the server",
    "until the teacher changes it",
    "lesson.json",
)
PRESENCE_FOLDER = "presence"
_place(
    MODEL_FOLDER,
    "presence/<owner>.json",
    "a learner seen in this lesson: the page open now, when first and last seen",
    "each learner's open page, every 5 s (pages.common.lesson.watch)",
    "the Teacher page's class at a glance",
    "until the teacher starts a new lesson (one small file a learner)",
    "presence/*.json",
)
CHALLENGE_FILE = _place(
    MODEL_FOLDER,
    "challenge.json",
    "the teacher's challenge (at most N parameters, at most N epochs)",
    "the Teacher page",
    "the Leaderboard and Teacher pages",
    "until the teacher clears it",
    "challenge.json",
)
SCORES_FILE = _place(
    MODEL_FOLDER,
    "class-scores.json",
    "each run's accuracy on the class's labelled digits, with the digits' version it read",
    "the scoring task on the cluster (core.tasks.score_class_digits)",
    "the Leaderboard and Teacher pages",
    "one entry per run ever scored",
    "class-scores.json",
)
ATTEMPTS_FILE = _place(
    MODEL_FOLDER,
    "teacher-attempts.json",
    "wrong teacher keys in the last minute per browser, per address and for everyone; the lockout they led to",
    "the Teacher page's key form (core.teacher_gate)",
    "the Teacher page's key form",
    "tries older than a minute are dropped; the lockout count after an hour without one",
    "teacher-attempts.json",
)
SWEEPS_FILE = _place(
    MODEL_FOLDER,
    "sweeps.json",
    "every hyperparameter sweep: its owner, fields, configs and run ids (core.sweeps.SweepBook)",
    "the Training page's Start sweep (RunBoard.start_sweep)",
    "the Training page (a learner's latest sweep)",
    "one entry per sweep ever started",
    "sweeps.json",
)
RETENTION_FILE = _place(
    MODEL_FOLDER,
    "retention.json",
    "the teacher's retention policy (keep latest, best, top, days; the quota) and when it was last applied",
    "the Teacher page (Disk); the web servers' retention keeper (core.retention)",
    "the web servers, every 10 minutes; the Teacher page",
    "kept",
    "retention.json",
)
OPEN_RUNS_FILE = _place(
    MODEL_FOLDER,
    "open-runs.json",
    "runs someone opened in a page lately, which retention never removes",
    "Training, Draw & predict, Inside the network (at most every 5 minutes a run)",
    "the retention policy",
    "30 minutes a run",
    "open-runs.json",
)
MY_DIGITS_FILE = _place(
    MODEL_FOLDER,
    "my-digits-<format>.npz",
    "the digits learners labelled, per image format (mnist, digits), with their owner ids (core.my_digits)",
    "Draw & predict (Keep it in my digits); the Teacher page (remove)",
    "Draw & predict, Training (the class's digits), the scoring task, the Teacher page",
    "the newest 5,000 per format",
    "my-digits-*.npz",
)
DATASETS_FOLDER = "datasets"
_place(
    MODEL_FOLDER,
    "datasets/<name>.npz",
    "datasets imported from a zip of digit pictures",
    "the import task on the cluster (core.tasks.import_digits)",
    "every page (the sidebar's dataset), training workers",
    "kept",
    "datasets/*",
)
SPOOL_FOLDER = ".uploads"
_place(
    MODEL_FOLDER,
    ".uploads/<task id>.upload",
    "an uploaded file on its way to the task that reads it (core.tasks.Task)",
    "the page that sent the task",
    "the task's worker, which deletes it as it reads it",
    "seconds; one nobody read is removed by RunStore.sweep after 10 minutes",
    ".uploads/*",
)

# ---- A run's folder: <model folder>/<run id>/ ---------------------------------------------------------------------

RECORD_FILE = _place(
    RUN_FOLDER,
    "run.json",
    "the run's record: config, owner, name, sweep, state, history, test metrics, robustness report",
    "the run's worker (core.store.RunWriter), after each epoch and at the end; the upload task; the robustness task",
    "every server (RunStore)",
    "as long as the run",
    "*/run.json",
)
PROGRESS_FILE = _place(
    RUN_FOLDER,
    "progress.json",
    "the run's live progress: epoch, batch, speed; its heartbeat",
    "the run's worker, every second while it trains",
    "every server (RunStore.progress): a live run silent for 15 s lost its worker",
    "as long as the run",
    "*/progress.json",
)
MODEL_FILE = _place(
    RUN_FOLDER,
    "model.keras",
    "the model after its latest epoch, with its optimizer's state (to continue from)",
    "the run's worker after each epoch; the upload task",
    "every page that reads digits; a continued run's worker",
    "as long as the run",
    "*/model.keras",
)
ROBUSTNESS_LOCK = _place(
    RUN_FOLDER,
    "robustness.lock",
    "held (flock) while a worker measures the run's robustness: one measurement of a run at a time",
    "the robustness task (core.robustness.measure_run); the lock dies with its worker",
    "the robustness task",
    "as long as the run (an empty file)",
    "*/robustness.lock",
)
EPOCHS_FOLDER = "epochs"
_place(
    RUN_FOLDER,
    "epochs/epoch-<NNN>.npz",
    "the weights after each epoch",
    "the run's worker",
    "Inside the network (epoch replay)",
    "as long as the run",
    "*/epochs/epoch-*.npz",
)
LOGS_FOLDER = "logs"
_place(
    RUN_FOLDER,
    "logs/",
    "TensorBoard event files: epoch scalars and weight histograms",
    "the run's worker",
    "`tensorboard --logdir <model folder>`",
    "as long as the run",
    "*/logs/*",
)


def epoch_file(epoch: int) -> str:
    return f"epoch-{epoch:03d}.npz"


def my_digits_file(image_format: str) -> str:
    return f"my-digits-{image_format}.npz"


# ---- The Dask scheduler -------------------------------------------------------------------------------------------

WAITING = _place(
    SCHEDULER,
    "digitlab-waiting",
    "metadata: run id -> its owner, sweep, task key and progress while no worker has taken it",
    "RunBoard (a server) when it sends a run; the worker removes it when the run starts",
    "every server (RunBoard.progress, live, stop)",
    "until a worker takes the run; one stopped before it started stays, saying so",
)
STEPPERS = _place(
    SCHEDULER,
    "digitlab-steppers",
    "metadata: owner id -> the worker holding that browser's step-mode network, its name, its last use, its idle limit",
    "StepSessions (a server) on Start step mode and each Step",
    "every server (StepSessions); the embedded cluster, which closes idle ones (core.stepper.close_idle)",
    "until Leave step mode, or its idle limit without a click (DIGITLAB_STEP_IDLE_SECONDS, 5 minutes)",
)
SCORING = _place(
    SCHEDULER,
    "digitlab-scoring",
    "metadata: when a server last sent the class-digits scoring",
    "the Leaderboard page (pages.common.services.start_scoring)",
    "the same, on every server: one scoring a minute for the class",
    "the cluster's life",
)
STOP_EVENT = _place(
    SCHEDULER,
    "digitlab-stop-<run id>",
    "Event: the run is asked to stop",
    "Stop (its owner) or the Teacher page, on any server",
    "the run's worker, every progress report",
    "the cluster's life",
)
TASK_PROGRESS = _place(
    SCHEDULER,
    "digitlab-task-<task id>",
    "Variable: a short task's progress (core.tasks)",
    "the task's worker",
    "the page that sent it",
    "deleted when the page has read the task's end",
)
TASK_CANCEL = _place(
    SCHEDULER,
    "digitlab-cancel-<task id>",
    "Event: Cancel pressed for a short task",
    "the page that sent it",
    "the task's worker",
    "cleared when the page has read the task's end",
)
STEPPER_DATASET = _place(
    SCHEDULER,
    "digitlab-stepper-<owner id>",
    "published dataset: the step-mode network's actor, so any server finds it",
    "StepSessions.open",
    "StepSessions.find (any server)",
    "until the step-mode network is closed",
)
TRAINING_TASK = _place(
    SCHEDULER,
    "train-<run id>-<time>",
    "the training task's key (fire and forget): a run still waiting is cancelled by it",
    "RunBoard",
    "RunBoard.stop",
    "until the run ends",
)


def stop_event(run_id: str) -> str:
    return f"digitlab-stop-{run_id}"


def task_progress(task_id: str) -> str:
    return f"digitlab-task-{task_id}"


def task_cancel(task_id: str) -> str:
    return f"digitlab-cancel-{task_id}"


def stepper_dataset(owner: str) -> str:
    return f"digitlab-stepper-{owner}"


def training_task(run_id: str, now_ns: int) -> str:
    return f"train-{run_id}-{now_ns}"


# ---- A browser tab's session (st.session_state) -------------------------------------------------------------------

SERVER_SESSION = "as long as the tab's session on its server (a reload keeps it; another replica starts afresh)"

DATASET_KEY = _place(
    SESSION,
    "dataset",
    "the sidebar's dataset (a widget drawn on every page)",
    "app.py's sidebar",
    "every page",
    SERVER_SESSION,
)
PENDING_DATASET_KEY = _place(
    SESSION,
    "dataset_to_select",
    "a dataset to select on the next run (a finished import)",
    "Dataset",
    "app.py's sidebar",
    "one script run",
)
CONFIG_KEY = _place(
    SESSION,
    "model_config",
    "the sidebar's hyperparameters as a ModelConfig (first taken from the link)",
    "the hyperparameter panel (Model, Training)",
    "Model, Training",
    SERVER_SESSION,
)
PANEL_WIDGET_PREFIX = "hp_"
_place(
    SESSION,
    "hp_<field>",
    "the panel's widgets, restored from model_config on every page that draws them",
    "the hyperparameter panel",
    "the hyperparameter panel",
    "while a page draws the panel",
)
RUN_KEY = _place(
    SESSION,
    "run_id",
    "the run this tab follows on Training (mirrored in the link as ?run=)",
    "Training",
    "Training, Draw & predict, Inside",
    SERVER_SESSION,
)
CHOSEN_RUN_KEY = _place(
    SESSION,
    "chosen_run",
    "the model picked to read digits",
    "Draw & predict, Inside",
    "Draw & predict, Inside",
    SERVER_SESSION,
)
LATEST_DRAWING_KEY = _place(
    SESSION,
    "latest_drawing",
    "the last digit drawn or uploaded, as the model saw it, and the run that read it",
    "Draw & predict",
    "Inside, Training (step mode)",
    SERVER_SESSION,
)
NAME_KEY = _place(
    SESSION,
    "learner_name",
    "the sidebar's Your name (saved to names.json on change)",
    "app.py's sidebar",
    "app.py's sidebar",
    SERVER_SESSION,
)
SESSION_OWNER_KEY = _place(
    SESSION,
    "session_owner",
    "this session's own random owner id where the browser sends no XSRF cookie",
    "pages.common.identity",
    "pages.common.identity",
    SERVER_SESSION,
)
FINDER_KEY = _place(
    SESSION,
    "lr_finder",
    "the learning-rate finder's task on the cluster",
    "the panel's Find a learning rate",
    "the panel",
    "until the task ends",
)
FOUND_KEY = _place(
    SESSION,
    "lr_found",
    "the finder's last curve and the config it was found for",
    "the panel",
    "the panel",
    SERVER_SESSION,
)
STEPPER_KEY = _place(
    SESSION,
    "stepper",
    "this tab's handle on its step-mode network (a Dask actor) and its config",
    "Training (step view)",
    "Training (step view)",
    "until Leave step mode",
)
STEP_PROBLEM_KEY = _place(
    SESSION,
    "step_problem",
    "why step mode could not start, shown once",
    "Training (step view)",
    "Training (step view)",
    "one script run",
)
MODEL_UPLOAD_KEY = _place(
    SESSION,
    "saved_upload",
    "the file id of the last model uploaded, so a rerun does not send it twice",
    "Training (saved runs)",
    "Training (saved runs)",
    SERVER_SESSION,
)
ROBUSTNESS_TASK_KEY = _place(
    SESSION,
    "robustness_task",
    "a saved run's robustness measurement on the cluster",
    "Training (saved runs)",
    "Training (saved runs)",
    "until the task ends",
)
MODEL_CHECK_KEY = _place(
    SESSION,
    "model_check",
    "an uploaded model's check on the cluster",
    "Training (saved runs)",
    "Training (saved runs)",
    "until the task ends",
)
ZIP_UPLOAD_KEY = _place(
    SESSION, "saved_zip", "the file id of the last zip of digits uploaded", "Dataset", "Dataset", SERVER_SESSION
)
IMPORT_KEY = _place(
    SESSION,
    "digits_import",
    "a zip of digits being imported on the cluster",
    "Dataset",
    "Dataset",
    "until the task ends",
)
KEPT_KEY = _place(
    SESSION,
    "kept_digit_message",
    "'Kept as a 7', said once after the page reruns",
    "Draw & predict",
    "Draw & predict",
    "one script run",
)
CLICKED_CELL_KEY = _place(
    SESSION,
    "clicked_cell",
    "the confusion-matrix cell last clicked (its filters are set once per click)",
    "Draw & predict",
    "Draw & predict",
    SERVER_SESSION,
)
SAMPLE_SEED_KEY = _place(
    SESSION,
    "sample_seed",
    "the seed of the Dataset page's sample grid (New sample draws the next)",
    "Dataset",
    "Dataset",
    SERVER_SESSION,
)
LAST_GOOD_KEY = _place(
    SESSION,
    "last_good_model",
    "the last configuration that could be built, shown under a refusal",
    "Model",
    "Model",
    SERVER_SESSION,
)
SCORING_TASK_KEY = _place(
    SESSION,
    "class_scoring",
    "the class-digits scoring this tab sent to the cluster",
    "Leaderboard",
    "Leaderboard",
    "until the task ends",
)
LESSON_SEEN_KEY = _place(
    SESSION,
    "lesson_seen",
    "the version of lesson.json this tab last drew: a new one reruns the page",
    "every page (pages.common.lesson.watch)",
    "every page",
    SERVER_SESSION,
)
PRESENCE_KEY = _place(
    SESSION,
    "presence_written",
    "the page this tab last told the class view about, and when",
    "every page (pages.common.lesson.watch)",
    "every page",
    SERVER_SESSION,
)
PUSH_SEEN_KEY = _place(
    SESSION,
    "lesson_push_seen",
    "the teacher's last pushed network this tab has taken",
    "the hyperparameter panel",
    "the hyperparameter panel",
    SERVER_SESSION,
)
OWN_CONFIG_KEY = _place(
    SESSION,
    "own_config",
    "the learner's own hyperparameters before the teacher's push: one click brings them back",
    "the hyperparameter panel",
    "the hyperparameter panel",
    "until the learner goes back to them",
)
UNLOCKED_KEY = _place(
    SESSION, "teacher_unlocked", "the teacher key was given in this tab", "Teacher", "Teacher", SERVER_SESSION
)
_place(
    SESSION,
    "<widget key>",
    "each page's own widgets (pen width, filters, picked run...)",
    "Streamlit",
    "the page that draws them",
    "dropped when the tab opens another page",
)

# ---- The link (URL query parameters) ------------------------------------------------------------------------------

RUN_PARAMETER = _place(
    LINK, "run", "the run Training shows (a shared link opens it)", "Training", "Training", "the link"
)
VIEW_PARAMETER = _place(
    LINK, "view", "the Training page's view: train, step, sweep or saved", "Training", "Training", "the link"
)
_place(
    LINK,
    "<hyperparameter>",
    "every hyperparameter that differs from the seed notebook's (core.config)",
    "the hyperparameter panel",
    "the hyperparameter panel, on a first visit",
    "the link",
)


def markdown_table() -> str:
    """The table as Markdown, one section per home (docs/state.md)."""
    lines = ["# Where Digit Lab keeps its state", "", f"Generated by `python -m core.state` from {__name__}."]
    for home in (MODEL_FOLDER, RUN_FOLDER, SCHEDULER, SESSION, LINK):
        lines += ["", f"## {home.capitalize()}", "", "| name | what | written by | read by | lives |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for place in (place for place in PLACES if place.home == home):
            cells = [f"`{place.name}`", place.what, place.writer, place.readers, place.lifetime]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
