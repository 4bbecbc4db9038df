"""A saved run's robustness: its accuracy under MNIST-C's corruptions, measured on the cluster a click away."""

from __future__ import annotations

import streamlit as st

from core import charts, insight_charts
from core.corruptions import CORRUPTIONS, REPORT_DIGITS
from core.retention import NoRoom
from core.robustness import report_of, why_not
from core.state import ROBUSTNESS_TASK_KEY
from core.store import RunRecord, RunStore
from core.tasks import report_robustness
from pages.common import caches, services
from pages.common.text import show_refusal
from pages.common.widgets import show_chart, task_ui


def robustness_ui(store: RunStore, record: RunRecord) -> None:
    """The run's report (chart, mean, what each corruption does), or the button that measures it."""
    st.subheader("How robust is it?")
    st.caption(
        f"Its accuracy on MNIST's first {REPORT_DIGITS:,} test digits under each of MNIST-C's 15 corruptions (Mu "
        "and Gilmer, 2019), at the paper's severity: the everyday damage a digit meets before any attacker."
    )
    show_corruptions()
    ended = task_ui(ROBUSTNESS_TASK_KEY) if ROBUSTNESS_TASK_KEY in st.session_state else None
    if ended is not None and ended.error:
        show_refusal("The robustness report could not be made.", ended.error)
    report = report_of(record)
    if report is not None:
        left, right = st.columns(2)
        left.metric("Clean accuracy (same digits)", f"{report.clean:.1%}")
        right.metric(
            "Mean under corruptions",
            f"{report.mean:.1%}",
            delta=f"{report.mean - report.clean:+.1%}",
            help="The leaderboard can rank runs by it.",
        )
        titles = {CORRUPTIONS[name].title: accuracy for name, accuracy in report.corruptions.items()}
        show_chart(st, insight_charts.robustness_bars(report.clean, titles), key="robustness_chart")
        return
    if ROBUSTNESS_TASK_KEY in st.session_state:
        return
    if (reason := why_not(record)) is not None:
        st.caption(reason)
        return
    if st.button("Measure its robustness", icon=":material/shield:", key="measure_robustness"):
        try:
            st.session_state[ROBUSTNESS_TASK_KEY] = services.start_task(
                f"Run {record.run_id} under corruptions",
                report_robustness,
                None,
                str(store.root.resolve()),
                record.run_id,
            )
        except (OSError, NoRoom) as error:
            show_refusal("The robustness report could not be started.", str(error))
            return
        st.rerun()


def show_corruptions() -> None:
    """One test digit under each corruption, so a learner sees what the network was shown."""
    images, titles = caches.corrupted_examples()
    with st.expander("What each corruption does to a digit", icon=":material/blur_on:"):
        show_chart(st, charts.image_grid(images, titles, columns=8), key="corruption_examples")
        st.markdown(
            "\n".join(f"- **{c.title}**: {c.explanation.split('. ')[0].rstrip('.')}." for c in CORRUPTIONS.values())
        )
