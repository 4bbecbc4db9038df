"""Leaderboard: every run of the class ranked, on MNIST's test set and on the class's own handwriting."""

from __future__ import annotations

import streamlit as st

from core import classroom
from core.data import image_format_of
from core.lesson import Lesson, runs_in
from core.state import SCORING_TASK_KEY
from pages.common import caches, services
from pages.common.frame import ensure_frame
from pages.common.identity import browser_owner
from pages.common.lesson import lesson_book, lesson_picker
from pages.common.services import class_rows
from pages.common.text import escape_markdown, show_refusal

REFRESH_SECONDS = 3.0
SHOWN_ROWS = 100
ALL = "all"


def main() -> None:
    ensure_frame()
    st.title("Leaderboard")
    st.caption(
        "Every run of the class, saved or training now, best first: accuracy on MNIST's test set, and on the digits "
        "the class labelled on Draw & predict (everyone's, pooled: the benchmark grows during the lesson). Open a "
        "run, or train its hyperparameters yourself."
    )
    rules = lesson_book().read()
    challenge = classroom.read_challenge(caches.run_store().root, rules.lesson_id)
    if challenge.active:
        st.info(
            f"The teacher's challenge: {challenge.describe()}. Runs that qualify are marked.", icon=":material/flag:"
        )
    family_column, dataset_column, rank_column, mine_column = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
    family = family_column.segmented_control(
        "Family", [ALL, "dense", "cnn", "uploaded"], default=ALL, key="board_family"
    )
    dataset = dataset_column.selectbox(
        "Image format",
        [ALL, "mnist", "digits"],
        key="board_dataset",
        help="mnist: 28x28 (uploaded sets too); digits: 8x8.",
    )
    rank_by = rank_column.selectbox(
        "Rank by",
        list(classroom.RANKINGS),
        format_func=classroom.RANKINGS.get,
        key="board_rank",
        help="corruptions: mean accuracy under MNIST-C's 15 corruptions, measured from Saved runs on Training.",
    )
    mine = mine_column.toggle("Only mine", key="board_mine")
    chosen = lesson_picker(rules.lessons, "board_lesson") if rules.lessons else None
    board(challenge, family or ALL, dataset, mine, rank_by, chosen, rules.lessons)


@st.fragment(run_every=REFRESH_SECONDS)
def board(
    challenge: classroom.Challenge,
    family: str,
    dataset: str,
    mine: bool,
    rank_by: str,
    lesson: Lesson | None = None,
    lessons: tuple[Lesson, ...] = (),
) -> None:
    """The ranked table, redrawn every few seconds while runs train; scoring sent to the cluster when stale."""
    rows, versions = class_rows(challenge)
    score_stale_runs(rows, versions)
    owner = browser_owner()
    shown = [
        row
        for row in classroom.ranked(rows, rank_by)
        if (family == ALL or row.family == family)
        and (dataset == ALL or image_format_of(row.dataset) == dataset)
        and (not mine or row.owner == owner)
    ]
    shown = runs_in(shown, lesson, lessons)
    if not shown:
        st.caption("No runs yet." if not rows else "No run matches these filters.")
        return
    if len(shown) > SHOWN_ROWS:  # what the table costs to send stays the same however many runs the term has
        st.caption(f"The best {SHOWN_ROWS} of {len(shown):,} runs; the Teacher page exports them all as CSV.")
        shown = shown[:SHOWN_ROWS]
    st.dataframe(
        [
            {
                "rank": rank,
                "who": row.name,
                "test accuracy": row.test_accuracy,
                "class's digits": row.class_accuracy,
                "digits read": row.class_digits or None,
                "corruptions": row.corruptions,
                "parameters": row.parameters,
                "epochs": row.epochs,
                "seconds": row.seconds,
                "family": row.family,
                "dataset": row.dataset,
                "state": row.state,
                **({"challenge": "qualifies" if row.qualifies else "no"} if challenge.active else {}),
                "run": f"training?run={row.run_id}",
                "train it yourself": f"training?{row.try_it}" if row.try_it else None,
            }
            for rank, row in enumerate(shown, start=1)
        ],
        hide_index=True,
        key="leaderboard",
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "class's digits": st.column_config.NumberColumn(
                format="percent",
                help="Accuracy on every labelled "
                "digit of the class; for a run that trained on them, on "
                "the fifth kept back from its training.",
            ),
            "corruptions": st.column_config.NumberColumn(
                format="percent", help="Mean accuracy under MNIST-C's 15 corruptions of 2,000 test digits."
            ),
            "parameters": st.column_config.NumberColumn(format="localized"),
            "run": st.column_config.LinkColumn(display_text="open", help="The run on the Training page."),
            "train it yourself": st.column_config.LinkColumn(
                display_text="its settings", help="The Training page with its hyperparameters."
            ),
        },
    )
    best = shown[0]
    st.caption(
        f"Best here: {escape_markdown(best.name, limit=60)}'s run {best.run_id}, "
        f"{best.test_accuracy:.2%} on the test set."
        if best.test_accuracy is not None
        else ""
    )


def score_stale_runs(rows: list[classroom.LeaderRow], versions: dict[str, str]) -> None:
    """Send the class-digits scoring to the cluster when a saved run has no fresh score and digits exist."""
    if (task := st.session_state.get(SCORING_TASK_KEY)) is not None and (state := task.state()).finished:
        del st.session_state[SCORING_TASK_KEY]
        services.scoring_ended()
        if state.error:
            show_refusal("The class's digits could not be read.", state.error)
    waiting = [
        row
        for row in rows
        if row.state in ("finished", "stopped", "interrupted", "uploaded")
        and row.class_accuracy is None
        and versions[image_format_of(row.dataset)] != "none"
    ]
    if not waiting or SCORING_TASK_KEY in st.session_state:
        return
    try:
        task = services.start_scoring()
    except OSError:
        return  # no cluster now: the scores come once it is back
    if task is not None:
        st.session_state[SCORING_TASK_KEY] = task
    st.caption(
        f"Reading the class's digits with {len(waiting)} run{'s' if len(waiting) != 1 else ''} on the cluster..."
    )


main()
