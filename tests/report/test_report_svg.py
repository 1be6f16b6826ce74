"""The SVG helpers: valid XML, one shape per datum, nothing drawn for no data, sensible axis ticks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from emergent.report import svg

NS = "{http://www.w3.org/2000/svg}"


def shapes(chart: str, tag: str) -> list[ET.Element]:
    return ET.fromstring(chart).findall(f".//{NS}{tag}")


def test_nice_ticks_cover_the_range() -> None:
    assert svg.nice_ticks(0, 1, 4) == [0, 0.25, 0.5, 0.75, 1.0]
    ticks = svg.nice_ticks(2.3, 10.8, 5)
    assert ticks[0] <= 2.3 and ticks[-1] >= 10.8 and len(ticks) <= 7
    assert svg.nice_ticks(5, 5)[-1] >= 5  # a flat series still gets an axis


def test_charts_are_valid_xml_with_one_shape_per_datum() -> None:
    bars = svg.hbars([("input", 100, ""), ("kept", 60, "60 <kept>")])
    assert len(shapes(bars, "rect")) == 2 and "60 &lt;kept&gt;" in bars
    ranges = svg.range_bars([("technical", 0.28, 0.25, 0.30, "ok"), ("creative", 0.02, 0.08, 0.10, "below")])
    assert len(ET.fromstring(ranges).findall(f".//{NS}rect[@class='band']")) == 2
    assert ET.fromstring(ranges).findall(f".//{NS}rect[@class='bar-off']")
    line = svg.line_chart([("loss", [(1, 2.0), (2, 1.5), (3, float("nan"))], "#000")], vlines=[(1.5, "shift")])
    assert shapes(line, "path")[0].get("d").count("L") == 1  # the NaN point is skipped
    grouped = svg.grouped_bars_ci(["a", "b"], [("base", [(0.2, 0.1, 0.3), (None, None, None)], "#111")])
    assert len(shapes(grouped, "title")) == 1
    heat = svg.heatmap([[3, 1], [0, 4]], ["x", "y"], ["x", "y"])
    assert re.findall(r">(\d+)</text>", heat) == ["75", "25", "100"]  # row shares, empty cell left blank
    assert len(shapes(svg.radar(["a", "b", "c"], [("m", [0.2, 1.5, -1], "#000")]), "polygon")) == 5
    diffs = svg.intervals(
        [("all", -0.01, -0.02, -0.003, "#0f0"), ("a <b>", 0.002, None, None, "#999"), ("x", None, 0, 1, "")]
    )
    assert len(shapes(diffs, "circle")) == 2 and "a &lt;b&gt;" in diffs  # a row without an estimate is left out
    assert len([p for p in shapes(diffs, "path") if p.get("class") == "whisker"]) == 1  # only rows with a CI
    zero = [ln for ln in shapes(diffs, "line") if ln.get("class") == "vline"]
    assert len(zero) == 1 and float(zero[0].get("x1")) > float(shapes(diffs, "circle")[0].get("cx"))  # -0.01 left of 0


def test_no_data_draws_nothing() -> None:
    assert svg.hbars([]) == "" and svg.range_bars([]) == "" and svg.timeline([]) == ""
    assert svg.line_chart([("x", [], "#000")]) == "" and svg.heatmap([], [], []) == ""
    assert svg.radar(["a", "b"], [("m", [1, 1], "#000")]) == ""  # two axes is not a radar
    assert svg.grouped_bars_ci([], []) == "" and svg.intervals([("x", None, None, None, "")]) == ""


def test_tick_labels_stay_distinct() -> None:
    assert svg.tick_labels([0, 0.5, 1]) == ["0", "0.5", "1"]  # fmt_num where it already tells ticks apart
    assert svg.tick_labels([2.562, 2.564, 2.566]) == ["2.562", "2.564", "2.566"]  # fmt_num says 2.56 thrice


def test_fmt_num() -> None:
    assert [svg.fmt_num(x) for x in (12345, 2_500_000, 0.034, 3.0, 0, 2e-05)] == [
        "12,345",
        "2.5M",
        "0.034",
        "3",
        "0",
        "2e-05",
    ]
