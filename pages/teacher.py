"""Teacher's view: watch and stop every run, set the class's challenge, clean up, and export the class's work.

Opens only with the teacher key (DIGITLAB_TEACHER_KEY, or teacher_key in .streamlit/secrets.toml).
"""

from __future__ import annotations

import os

import streamlit as st

from core import classroom, retention, teacher_gate
from core.data import slug
from core.lesson import digits_in, runs_in
from core.owners import OWNER_CHARACTERS
from core.state import UNLOCKED_KEY
from core.teacher_gate import TEACHER_KEY_ENV
from pages.common import caches
from pages.common.frame import ensure_frame
from pages.common.identity import browser_address, browser_owner
from pages.common.lesson import lesson_book, lesson_picker
from pages.common.services import class_rows
from pages.common.text import escape_markdown, show_refusal
from pages.teacher_views.class_view import class_view
from pages.teacher_views.lesson import lesson_ui

HOW_TO_SET = (
    "This page opens with a teacher key, and none is set on this server. Set the environment variable "
    f"{TEACHER_KEY_ENV} before starting it (`{TEACHER_KEY_ENV}=... streamlit run app.py`), or put "
    '`teacher_key = "..."` in `.streamlit/secrets.toml` beside app.py; then restart the server.'
)


def main() -> None:
    ensure_frame()
    st.title("Teacher's view")
    expected = teacher_key()
    if not expected:
        st.info(HOW_TO_SET, icon=":material/key:")
        return
    if (problem := teacher_gate.key_problem(expected)) is not None:
        st.warning(problem, icon=":material/key:")
        return
    if not st.session_state.get(UNLOCKED_KEY):
        unlock(expected)
        return
    if retention.free_bytes(caches.run_store().root) < 2 * retention.RESERVE_BYTES:
        st.warning(
            retention.NO_ROOM.replace("ask your teacher to make room", "make room below"), icon=":material/storage:"
        )
    lesson_ui()
    class_view()
    live_runs()
    challenge()
    clean_up()
    disk()
    export()


def teacher_key() -> str:
    """The key from the environment, else from Streamlit's secrets; "" when neither is set."""
    key = os.environ.get(TEACHER_KEY_ENV, "")
    if not key:
        try:
            key = str(st.secrets.get("teacher_key", ""))
        except Exception:  # no secrets file, or one that does not parse: no key
            key = ""
    return key.strip()


def unlock(expected: str) -> None:
    """The key form; a wrong key is refused without saying why, and too many wrong keys (from this browser, this
    address, or everyone together) mean a wait (core.teacher_gate)."""
    gate = teacher_gate.TeacherGate(caches.run_store().root)
    owner, address = browser_owner(), browser_address()
    with st.form("teacher_key_form"):
        given = st.text_input("Teacher key", type="password", max_chars=200)
        submitted = st.form_submit_button("Open", icon=":material/lock_open:")
    if not submitted:
        return
    if (wait := gate.wait_seconds(owner, address)) > 0:
        st.warning(f"Too many wrong keys: wait {wait} s before the next try.", icon=":material/timer:")
    elif gate.try_key(owner, given, expected, address):
        st.session_state[UNLOCKED_KEY] = True
        st.rerun()
    else:
        st.error("That key does not open the teacher's view.", icon=":material/block:")


def live_runs() -> None:
    """Every run training now, whoever started it; the teacher can stop any."""
    st.header("Training now")
    board = caches.run_board()
    live = board.live()
    if not live:
        st.caption("No run is training.")
        return
    names = caches.name_book()
    who = {p.run_id: names.name_of(board.owner_of(p.run_id)) for p in live}  # one look-up per run
    label = {
        p.run_id: f"{p.run_id}: {who[p.run_id][:40]}, {p.state.value}, epoch {p.epoch} of {p.epochs}" for p in live
    }
    st.dataframe(
        [
            {"run": p.run_id, "who": who[p.run_id], "state": p.state.value, "epoch": f"{p.epoch} of {p.epochs}"}
            for p in live
        ],
        hide_index=True,
    )
    run_column, stop_column = st.columns([3, 1], vertical_alignment="bottom")
    run_id = run_column.selectbox("Run to stop", list(label), format_func=label.get, key="teacher_run")
    if stop_column.button("Stop it", icon=":material/stop:", key="teacher_stop", width="stretch"):
        if board.stop(run_id, "", teacher=True):
            st.success(f"Run {run_id} stops after its current step; its whole epochs are kept.")
        else:
            show_refusal("The run could not be stopped.", "The training cluster is not reachable now.")


def challenge() -> None:
    """A constraint for the class: the leaderboard marks the runs that meet it."""
    st.header("Challenge")
    root = caches.run_store().root
    lesson_id = lesson_book().read().lesson_id
    current = classroom.read_challenge(root, lesson_id)
    st.caption(f"Now: {current.describe()}." if current.active else "No challenge set.")
    parameters_column, epochs_column = st.columns(2)
    parameters = parameters_column.number_input(
        "At most this many parameters (0: no limit)",
        0,
        10_000_000,
        current.max_parameters or 0,
        step=10_000,
        key="challenge_parameters",
    )
    epochs = epochs_column.number_input(
        "At most this many epochs (0: no limit)", 0, 30, current.max_epochs or 0, key="challenge_epochs"
    )
    save_column, clear_column, _ = st.columns([1, 1, 2])
    if save_column.button("Set the challenge", icon=":material/flag:", key="challenge_set", width="stretch"):
        classroom.set_challenge(root, classroom.Challenge(int(parameters) or None, int(epochs) or None), lesson_id)
        st.rerun()
    if clear_column.button(
        "Clear it", icon=":material/flag_circle:", key="challenge_clear", width="stretch", disabled=not current.active
    ):
        classroom.set_challenge(root, classroom.Challenge(), lesson_id)
        st.rerun()


def clean_up() -> None:
    """Remove one saved run or all of them; one learner's labelled digits or everyone's: each asked first."""
    st.header("Clean up")
    store = caches.run_store()
    records = store.records()
    names = caches.name_book()
    runs_column, digits_column = st.columns(2)
    with runs_column:
        st.subheader("Saved runs")
        if not records:
            st.caption("None.")
        else:
            label = {r.run_id: f"{r.run_id}: {names.name_of(r.owner) if r.owner else r.source[:40]}" for r in records}
            run_id = st.selectbox("Saved run", list(label), format_func=label.get, key="remove_run")
            if confirmed(f"remove run {run_id}", "remove_one_run") and store.remove(run_id):
                st.rerun()
            if confirmed(f"remove all {len(records)} saved runs", "remove_all_runs"):
                for record in records:
                    store.remove(record.run_id)
                st.rerun()
    with digits_column:
        st.subheader("Labelled digits")
        kept = {image_format: caches.my_digits(image_format) for image_format in ("mnist", "digits")}
        loaded = {image_format: digits_store.load() for image_format, digits_store in kept.items()}
        if not any(len(digits) for digits in loaded.values()):
            st.caption("None.")
        for image_format, digits in loaded.items():
            if not len(digits):
                continue
            counts = {owner: int((digits.owners == owner).sum()) for owner in sorted(set(digits.owners.tolist()))}
            label = {owner: f"{names.name_of(owner)} ({count} digits)" for owner, count in counts.items()}
            who = st.selectbox(
                f"Whose ({image_format})", list(label), format_func=label.get, key=f"digits_owner_{image_format}"
            )
            if confirmed(f"remove {names.name_of(who)[:40]}'s {image_format} digits", f"remove_digits_{image_format}"):
                kept[image_format].clear(who)
                st.rerun()
            if confirmed(f"remove all {len(digits)} {image_format} digits", f"remove_all_digits_{image_format}"):
                kept[image_format].clear()
                st.rerun()


def disk() -> None:
    """The folder's size, per learner and against the volume and the quota; the retention policy, and what it
    removes next."""
    st.header("Disk")
    store = caches.run_store()
    keeper = retention.Retention(store)
    policy = retention.Policy.read(store.root)
    plan = keeper.plan()
    names = caches.name_book()
    per_learner: dict[str, list[int]] = {}
    for record in plan.kept + plan.remove:
        per_learner.setdefault(names.name_of(record.owner) if record.owner else "(uploaded)", []).append(
            store.bytes_of(record)
        )
    used, free = sum(sum(sizes) for sizes in per_learner.values()), retention.free_bytes(store.root)
    quota = f"{policy.quota_bytes / 2**20:,.0f} MB" if policy.quota_bytes else "none"
    st.caption(f"Runs take {used / 2**20:,.1f} MB; {free / 2**30:,.1f} GB free on the volume; quota: {quota}.")
    largest = sorted(per_learner.items(), key=lambda item: -sum(item[1]))[:10]
    st.dataframe(
        [{"who": who, "runs": len(sizes), "MB": round(sum(sizes) / 2**20, 1)} for who, sizes in largest],
        hide_index=True,
    )
    with st.form("retention_policy"):
        latest, top, days, limit = st.columns(4)
        keep_latest = latest.number_input("Keep each learner's latest", 1, 100, policy.keep_latest)
        keep_top = top.number_input("Keep the leaderboard's top", 0, 1000, policy.keep_top)
        keep_days = days.number_input("Keep everything younger than (days)", 0.0, 365.0, float(policy.keep_days))
        quota_mb = limit.number_input("Quota, MB (0: none)", 0, 10_000_000, (policy.quota_bytes or 0) // 2**20)
        if st.form_submit_button("Save the policy", icon=":material/save:"):
            retention.Policy(int(keep_latest), int(keep_top), float(keep_days), int(quota_mb) * 2**20 or None).keep(
                store.root
            )
            st.rerun()
    st.caption(
        f"Kept always: runs training now, runs opened in a page in the last {retention.OPEN_MINUTES} minutes, "
        "each learner's best. The policy is applied every few minutes."
    )
    if not plan.remove:
        st.caption("Applying it now would remove nothing.")
    else:
        gone = sum(store.bytes_of(record) for record in plan.remove)
        st.caption(f"Applying it now would remove {len(plan.remove)} runs, {gone / 2**20:,.1f} MB:")
        st.dataframe(
            [
                {
                    "run": r.run_id,
                    "who": names.name_of(r.owner) if r.owner else r.source[:40],
                    "created": r.created,
                    "MB": round(store.bytes_of(r) / 2**20, 1),
                }
                for r in plan.remove[:200]
            ],
            hide_index=True,
        )
        if confirmed(f"apply the policy now and remove {len(plan.remove)} runs", "apply_retention"):
            keeper.apply()
            st.rerun()
    if plan.over_quota:
        st.warning("Even after that, the runs the policy must keep are over the quota: raise it, or keep fewer.")


def confirmed(action: str, key: str) -> bool:
    """A button that asks first: ticking "Yes, ..." enables it."""
    sure = st.checkbox(f"Yes, {escape_markdown(action)}", key=f"{key}_sure")
    return st.button(action.capitalize(), icon=":material/delete:", key=key, disabled=not sure)


def export() -> None:
    """The class's results as CSV and its labelled digits as a zip that "upload your own digits" reads again."""
    st.header("Export")
    rules = lesson_book().read()
    lesson = lesson_picker(rules.lessons, "export_lesson") if rules.lessons else None
    rows, _ = class_rows(classroom.read_challenge(caches.run_store().root, rules.lesson_id))
    rows = runs_in(rows, lesson, rules.lessons)
    suffix = f"-{slug(lesson.name)}" if lesson is not None else ""
    results_column, mnist_column, digits_column = st.columns(3)
    results_column.download_button(
        "Class results (CSV)",
        classroom.results_csv(rows),
        file_name=f"class-results{suffix}.csv",
        mime="text/csv",
        icon=":material/table:",
        key="export_results",
    )
    for column, image_format in ((mnist_column, "mnist"), (digits_column, "digits")):
        digits = digits_in(caches.my_digits(image_format).load(), lesson, rules.lessons)
        if len(digits):
            column.download_button(
                f"{len(digits)} labelled {image_format} digits (zip, folders 0-9)",
                lambda digits=digits: classroom.digits_zip(digits),  # built on the click, not before
                file_name=f"class-digits-{image_format}{suffix}.zip",
                mime="application/zip",
                icon=":material/folder_zip:",
                key=f"export_digits_{image_format}",
            )
    st.caption(
        f"Learners are told apart by a {OWNER_CHARACTERS}-character hash of their browser's cookie; names "
        "are what they typed, exported as text."
    )


main()
