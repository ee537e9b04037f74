"""The frontier's plot on a frontier result built by hand: each family's frontier, its faint
configurations, the oracle's line and the default reactive HPA where their figures put them."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forecasting.replay import ReplaySettings, ServiceSettings
from forecasting.replay.frontier_plot import FrontierFrame, frontier_svg, write_frontier_plot
from forecasting.replay.metrics import ControllerMetrics
from forecasting.replay.plot import COLOURS, HEIGHT, WIDTH
from forecasting.replay.sweep import Config, FrontierResult, Run

SVG = "{http://www.w3.org/2000/svg}"
SETTINGS = ReplaySettings(ServiceSettings(capacity_per_replica=10.0, startup_seconds=180.0))


def metrics(gpu_hours: float, share: float) -> ControllerMetrics:
    return ControllerMetrics(share, 0.0, 0.0, gpu_hours, gpu_hours, 1.0, 1.0, 1, 1.0, 1.0, 0.0)


@pytest.fixture(scope="module")
def result() -> FrontierResult:
    # reactive: frontier (40, 20 %), (60, 10 %), (90, 4 %), dominated (70, 15 %)
    # predictive: frontier (35, 12 %), (50, 3 %), (80, 0.5 %), dominated (95, 8 %)
    reactive = [(40, 0.20), (60, 0.10), (70, 0.15), (90, 0.04)]
    predictive = [(35, 0.12), (50, 0.03), (80, 0.005), (95, 0.08)]
    runs = [Run(Config(0.5 + 0.1 * index, 0), metrics(*figures)) for index, figures in enumerate(reactive)]
    runs += [Run(Config(0.5 + 0.1 * index, 0, 0.9, 180.0, 300.0), metrics(*figures))
             for index, figures in enumerate(predictive)]
    return FrontierResult("hand", SETTINGS, tuple(runs), metrics(30.0, 0.0), 10,
                          Run(Config(0.8, None), metrics(75.0, 0.12)))


def centres(root: ElementTree.Element, cls: str) -> np.ndarray:
    return np.array([(float(c.get("cx", "nan")), float(c.get("cy", "nan")))
                     for c in root.findall(f"{SVG}circle[@class='{cls}']")])


def test_svg_draws_each_frontier_every_configuration_the_oracle_and_the_default(result: FrontierResult) -> None:
    root = ElementTree.fromstring(frontier_svg(result))
    frame = FrontierFrame(result)
    for family, predictive in (("reactive", False), ("predictive", True)):
        expected = [frame.at(point) for point in result.frontier(predictive)]
        assert centres(root, f"{family} frontier") == pytest.approx(np.array(expected), abs=0.06)
        assert len(expected) == 3
        assert centres(root, f"{family} configuration") == pytest.approx(
            np.array([frame.at(point) for point in result.points(predictive)]), abs=0.06)
        line = root.find(f"{SVG}path[@class='{family} frontier']")
        assert line is not None and line.get("stroke") == COLOURS[family]
        assert line.get("d") == " ".join(f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(expected))
    assert COLOURS["reactive"] != COLOURS["predictive"]
    oracle = root.find(f"{SVG}line[@class='oracle']")
    assert oracle is not None and oracle.get("stroke") == COLOURS["oracle"]
    assert float(oracle.get("x1", "nan")) == float(oracle.get("x2", "nan")) == pytest.approx(frame.x(30.0), abs=0.06)
    default = root.find(f"{SVG}path[@class='default']")
    assert default is not None and default.get("fill") == COLOURS["default"]
    x, y = frame.x(75.0), frame.y(0.12)
    assert default.get("d", "").startswith(f"M{x:.1f},{y - 7:.1f} ")
    text = " ".join(root.itertext())
    for words in ("GPU-hours", "GPU·h", "requests over the SLO (%, log scale; 0 at 0.01)", "Foresight frontier: hand",
                  "reactive frontier", "predictive frontier", "oracle GPU-hours", "default reactive HPA"):
        assert words in text


def test_html_is_a_page_with_the_svg_and_the_table(result: FrontierResult, tmp_path: Path) -> None:
    write_frontier_plot(result, tmp_path / "f.html")
    page = (tmp_path / "f.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "reactive frontier" in page
    assert "default reactive HPA (target 0.8, the HPA&#x27;s default behaviour)" in page
    write_frontier_plot(result, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text().startswith("<svg")


def colour(name: str) -> np.ndarray:
    return np.array([int(COLOURS[name][i : i + 2], 16) for i in (1, 3, 5)])


def test_png_has_each_colour_where_its_figures_put_it(result: FrontierResult, tmp_path: Path) -> None:
    write_frontier_plot(result, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    frame = FrontierFrame(result)

    def near(x: float, y: float, name: str, radius: int = 2) -> bool:
        row, column = round(y), round(x)
        patch = pixels[row - radius : row + radius + 1, column - radius : column + radius + 1]
        return bool((np.abs(patch - colour(name)).sum(axis=2) < 40).any())

    for family, predictive in (("reactive", False), ("predictive", True)):
        for point in result.frontier(predictive):
            assert near(*frame.at(point), family), (family, point)
    assert near(frame.x(75.0), frame.y(0.12), "default")
    column = round(frame.x(30.0))
    rows = [round(frame.y(share)) for share in (0.0003, 0.002, 0.01, 0.05, 0.15)]
    assert sum(near(column, row, "oracle", 1) for row in rows) >= 3  # a dashed line
    elsewhere = round(frame.x(65.0))
    assert not any(near(elsewhere, row, "oracle", 1) for row in rows)


def test_the_share_axis_is_logarithmic_with_zero_at_its_floor(result: FrontierResult) -> None:
    frame = FrontierFrame(result)
    decade = frame.y(0.001) - frame.y(0.01)
    assert decade > 0 and frame.y(0.01) - frame.y(0.1) == pytest.approx(decade)
    assert frame.y(0.0) == frame.y(0.0001)  # 0 % is drawn at the 0.01 % floor
    assert frame.y_ticks() == [0.01, 0.1, 1.0, 10.0]  # up to the dearest miss, 20 %
    root = ElementTree.fromstring(frontier_svg(result))
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert all(label in labels for label in ("0.01", "0.1", "1", "10"))
