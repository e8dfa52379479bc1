"""The terminal progress bar of `inferwatch shadow run`: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from shadow.cli import ProgressBar


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_bar_is_drawn_on_a_terminal_and_ends_its_line() -> None:
    """On a TTY: a carriage-return bar with the phase, the filled share and the count; close ends the line."""
    stream = _Terminal()
    bar = ProgressBar(stream)
    bar(0, 10, "replay")
    bar(10, 10, "replay")  # the last update is always drawn, however soon after the previous one
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rreplay")
    assert "[" + "." * 30 + "] 0/10" in text
    assert "[" + "#" * 30 + "] 10/10" in text
    assert text.endswith("\n")


def test_nothing_is_printed_when_not_a_terminal() -> None:
    """Piped or in CI logs: no bar, no carriage returns, no trailing newline."""
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for done in range(11):
        bar(done, 10, "replay")
    bar.close()
    assert stream.getvalue() == ""
