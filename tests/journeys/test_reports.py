"""The report wake-up: markers, and each report waking its run once."""

from __future__ import annotations

import doctest

from retenta.journeys import reports, steps
from retenta.journeys.reports import markers_for


def test_doctests() -> None:
    for module in (reports, steps):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0


def test_failures_and_clicks_end_both_kinds_of_wait() -> None:
    assert markers_for("snd_j1", "bounced") == ["report:delivered:snd_j1",
                                                "report:opened:snd_j1"]  # fmt: skip
    assert markers_for("snd_j1", "clicked") == ["report:delivered:snd_j1",
                                                "report:opened:snd_j1"]  # fmt: skip
    assert markers_for("snd_j1", "sent") == []
    assert markers_for("snd_j1", "queued") == []
