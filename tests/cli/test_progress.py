"""Progress on stderr: ETA, and plain lines (not bar redraws) when it is not a terminal."""

import io

from rich.console import Console

from cli.progress import LineProgress, duration, eta, progress_bars


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_progress_writes_start_quarters_eta_and_end():
    clock, lines = Clock(), []
    p = LineProgress(lines.append, clock=clock)
    p.update("sleb: search", 0.0)
    for fraction, at in ((0.1, 10), (0.2, 20), (0.25, 30), (0.3, 40), (0.5, 60), (1.0, 130)):
        clock.now = 100.0 + at
        p.update("sleb: search", fraction)
    p.update("sleb: search", 1.0)  # repeated end: no second line
    p.close()
    assert lines == [
        "sleb: search: started",
        "sleb: search: 25% (30s elapsed, ETA 1m30s)",  # 30 * 0.75 / 0.25
        "sleb: search: 50% (1m00s elapsed, ETA 1m00s)",
        "sleb: search: done in 2m10s",
    ]


def test_unfinished_step_says_where_it_stopped():
    clock, lines = Clock(), []
    p = LineProgress(lines.append, clock=clock)
    p.update("perplexity/wikitext2", 0.4)
    clock.now += 5
    p.close()
    assert lines[-1] == "perplexity/wikitext2: stopped at 40% after 5s"


def test_eta_and_duration():
    assert eta(10.0, 0.0) is None and eta(10.0, 0.5) == 10.0 and eta(10.0, 1.0) == 0.0
    assert (duration(45), duration(187), duration(3720)) == ("45s", "3m07s", "1h02m")


def test_not_a_terminal_gives_lines_not_bar_redraws():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    with progress_bars(console) as progress:
        for i in range(11):
            progress("shortgpt: block influence", i / 10)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text and "━" not in text
    lines = text.splitlines()
    assert lines[0] == "shortgpt: block influence: started"
    assert lines[-1].startswith("shortgpt: block influence: done in")
    assert len(lines) == 5  # start, 25%, 50%, 75%, done


def test_terminal_bars_show_an_eta_column():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with progress_bars(console) as progress:
        progress("sleb: search", 0.5)
        progress("sleb: search", 1.0)
    assert "ETA" in out.getvalue() and "sleb: search" in out.getvalue()
