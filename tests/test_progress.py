"""The shared progress display's rate column."""

from __future__ import annotations

from types import SimpleNamespace

from emergent.progress import RateColumn


def test_rate_is_per_second_or_seconds_per_item_when_slow():
    column = RateColumn()
    assert column.render(SimpleNamespace(finished_speed=None, speed=3_456.2)).plain == "3,456/s"
    assert column.render(SimpleNamespace(finished_speed=None, speed=0.17)).plain == "5.9s/it"  # a CPU training step
    assert column.render(SimpleNamespace(finished_speed=0.5, speed=None)).plain == "2.0s/it"
    assert column.render(SimpleNamespace(finished_speed=None, speed=None)).plain == ""
