"""The Teacher page's class at a glance: one row a learner seen in this lesson, on every replica."""

from __future__ import annotations

import streamlit as st

from core import presence
from core.presence import Presence, class_at_a_glance
from pages.common import caches

REFRESH_SECONDS = 5.0


@st.fragment(run_every=REFRESH_SECONDS)
def class_view() -> None:
    st.header("The class at a glance")
    store = caches.run_store()
    seen = Presence(store.root).everyone()
    if not seen:
        st.caption("No learner has opened a page in this lesson yet.")
        return
    digit_owners = [
        owner for image_format in ("mnist", "digits") for owner in caches.my_digits(image_format).load().owners
    ]
    rows = class_at_a_glance(
        seen,
        [*store.records(), *store.live_records()],
        caches.run_board().live(),
        caches.name_book().all(),
        digit_owners,
        idle_minutes=presence.IDLE_MINUTES,
    )
    connected = sum(row.connected for row in rows)
    idle = sum(row.no_run_yet for row in rows)
    st.caption(
        f"{connected} of {len(rows)} learners seen in this lesson have a page open now, on every server. "
        + (f"{idle} have not started a run after {presence.IDLE_MINUTES} minutes: marked." if idle else "")
    )
    st.dataframe(
        [
            {
                "who": row.name,
                "page": row.page if row.connected else f"({row.page})",
                "last active": f"{row.last_active_seconds:.0f} s ago",
                "runs": row.runs_started,
                "finished": row.runs_finished,
                "best test accuracy": row.best_test_accuracy,
                "digits labelled": row.digits_labelled,
                "training now": row.training_now,
                "needs a hand": "no run yet" if row.no_run_yet else "",
            }
            for row in rows
        ],
        hide_index=True,
        key="class_view",
        column_config={"best test accuracy": st.column_config.NumberColumn(format="percent")},
    )
