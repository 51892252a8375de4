"""Streamlit entry point (``skipbench leaderboard`` runs ``streamlit run`` on this file)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
PAGES = [
    ("app_pages/board.py", "Leaderboard", ":material/leaderboard:", True),
    ("app_pages/scatter.py", "Accuracy vs speed", ":material/scatter_plot:", False),
    ("app_pages/run_detail.py", "Run detail", ":material/description:", False),
    ("app_pages/compare.py", "Compare", ":material/compare_arrows:", False),
    ("app_pages/jobs_queue.py", "Queue", ":material/schedule:", False),
]


def main() -> None:
    st.set_page_config(
        page_title="SkipBench leaderboard", page_icon=":material/speed:", layout="wide"
    )
    pages = [
        st.Page(str(HERE / path), title=title, icon=icon, default=default)
        for path, title, icon, default in PAGES
    ]
    st.navigation(pages).run()


main()
