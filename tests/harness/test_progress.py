"""Progress off a terminal: plain, periodic, self-contained lines."""

from __future__ import annotations

import io

from vla_bench.harness.progress import RunProgress


def test_plain_lines_off_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY
    with RunProgress("proto · agent", total=4, done=1, stream=stream, interval=0) as progress:
        progress.advance()
        progress.advance(error=True)
        progress.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("proto · agent: started 1/4 episodes (25%) · 0.00 ep/s · ETA – · 0 errors")
    assert "running 3/4 episodes (75%)" in lines[2] and lines[2].endswith("· 1 errors")
    assert "finished 4/4 episodes (100%)" in lines[-1] and "ETA –" in lines[-1]
    assert "\x1b[" not in stream.getvalue()  # no terminal control codes in a log file


def test_lines_are_spaced_by_the_interval_and_disabled_means_silent() -> None:
    stream = io.StringIO()
    with RunProgress("p", total=100, done=0, stream=stream, interval=3600) as progress:
        for _ in range(100):
            progress.advance()
    assert len(stream.getvalue().splitlines()) == 2  # started and finished only
    quiet = io.StringIO()
    with RunProgress("p", total=2, done=0, stream=quiet, enabled=False) as progress:
        progress.advance()
    assert quiet.getvalue() == ""
