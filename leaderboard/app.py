"""Streamlit entry point (``skipbench leaderboard`` runs ``streamlit run`` on this file)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
# (script, title, icon, url path); "/" opens the first
PAGES = [
    ("app_pages/board.py", "Leaderboard", ":material/leaderboard:", "leaderboard"),
    ("app_pages/scatter.py", "Accuracy vs speed", ":material/scatter_plot:", "accuracy-vs-speed"),
    ("app_pages/run_detail.py", "Run detail", ":material/description:", "run"),
    ("app_pages/compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("app_pages/jobs_queue.py", "Queue", ":material/schedule:", "queue"),
]


def main() -> None:
    st.set_page_config(
        page_title="SkipBench leaderboard", page_icon=":material/speed:", layout="wide"
    )
    pages = [
        st.Page(str(HERE / path), title=title, icon=icon, url_path=url_path)
        for path, title, icon, url_path in PAGES
    ]

    def home() -> None:
        """ "/" opens the leaderboard at its own path (/leaderboard), keeping the query."""
        query = {k: st.query_params.get_all(k) for k in st.query_params}
        st.switch_page(pages[0], query_params=query)

    root = st.Page(home, title=PAGES[0][1], url_path="home", default=True, visibility="hidden")
    st.navigation([root, *pages]).run()


main()
