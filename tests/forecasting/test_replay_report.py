"""The replay's table, JSON and plot on a small synthetic replay."""

from __future__ import annotations

import importlib.util
import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.replay import ReplayResult, ReplaySettings, ServiceSettings, run_replay
from forecasting.replay.plot import COLOURS, PlotError, check_plot_path, svg, write_plot
from forecasting.replay.report import ratio, table, to_json
from forecasting.traces import Trace

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def result() -> ReplayResult:
    minutes = np.arange(300)
    requests = np.round(3000 + 1500 * np.sin(2 * np.pi * minutes / 120))
    requests[150:160] = np.nan  # a gap: the band and the demand line break there
    trace = Trace(name="wave", step_seconds=60.0, start=0.0, wall_clock=False, requests=requests)
    settings = ReplaySettings(ServiceSettings(capacity_per_replica=10.0, startup_seconds=180.0))
    return run_replay(trace, settings, factories={Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive})


def test_json_matches_the_metrics(result: ReplayResult) -> None:
    report = to_json(result)
    assert report["trace"] == "wave"
    for name in ("reactive", "predictive", "oracle"):
        assert report["controllers"][name]["gpu_hours"] == result.controllers[name].gpu_hours  # type: ignore[literal-required]


def test_table_states_the_comparison(result: ReplayResult) -> None:
    text = table(result)
    assert text.splitlines()[0].startswith("wave: 5.0 h replayed, 10 req/s per replica")
    assert "predictive vs reactive:" in text and "vs oracle:" in text


def test_ratio_of_zeros() -> None:
    assert (ratio(0.0, 0.0), ratio(1.0, 0.0), ratio(1.0, 2.0)) == (1.0, math.inf, 0.5)


def test_svg_has_a_line_per_controller_and_a_band_broken_where_no_forecast_was_served(result: ReplayResult) -> None:
    """The band starts once the forecast has warmed up and breaks over the gap, where the metric
    (and so its forecast) has no value."""
    root = ElementTree.fromstring(svg(result))
    paths = {path.findtext(f"{SVG}title") for path in root.iter(f"{SVG}path")}
    assert paths == {"demand", "reactive", "predictive", "oracle"}
    assert len(list(root.iter(f"{SVG}polygon"))) == 2


def test_svg_and_html_files(result: ReplayResult, tmp_path: Path) -> None:
    write_plot(result, tmp_path / "r.svg")
    write_plot(result, tmp_path / "r.html")
    assert (tmp_path / "r.svg").read_text().startswith("<svg")
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_unknown_formats_are_refused() -> None:
    with pytest.raises(PlotError, match=r"\.html, \.svg, \.png"):
        check_plot_path(Path("plot.pdf"))


def test_png_is_drawn_by_matplotlib(result: ReplayResult, tmp_path: Path) -> None:
    write_plot(result, tmp_path / "r.png")
    with Image.open(tmp_path / "r.png") as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).astype(int)
    for name in ("demand", "reactive", "predictive", "oracle"):  # every line is drawn in its colour
        colour = np.array([int(COLOURS[name][i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - colour).sum(axis=2) < 30).sum() > 200, name


def test_png_without_matplotlib_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "matplotlib" else real_find_spec(name, *args))
    with pytest.raises(PlotError, match=r"needs matplotlib.*foresight\[plot\]"):
        check_plot_path(Path("plot.png"))
