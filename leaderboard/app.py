"""Streamlit entry point (``skipbench leaderboard`` runs ``streamlit run`` on this file)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
# (script, title, icon, url path); the first is the default page, also served at "/"
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
        st.Page(str(HERE / path), title=title, icon=icon, url_path=url_path, default=i == 0)
        for i, (path, title, icon, url_path) in enumerate(PAGES)
    ]
    st.navigation(pages).run()


main()
