"""The status page at ``/`` as a person sees it: every value with its unit, forecast metrics among
the metrics served, and, laid out by a real headless Chromium, no value broken over two lines."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

from adapter.settings.config import ForecastSettings

from ..browser import chromium
from .demo_adapter import demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*"
SELECTOR = "?labelSelector=app%3Dllama"
PRESETS = ("gpu_utilization", "latency_p99_seconds", "queue_depth", "requests_per_second", "energy_per_request_joules")
FORECASTS = ForecastSettings(history="1h", workers=1)


async def status_page(*, forecasts: ForecastSettings | None = None) -> str:
    """The page after a request for every preset metric, per pod where the metric has pods, and for
    the demand forecast when forecasts are served."""
    async with demo_adapter(forecasts=forecasts) as demo:
        for metric in PRESETS + (("requests_per_second_forecast",) if forecasts else ()):
            await demo.get(f"{EXTERNAL}/{metric}{SELECTOR}", status=200)
        for metric in ("gpu_utilization", "queue_depth"):
            await demo.get(f"{CUSTOM}/{metric}{SELECTOR}", status=200)
        response = await demo.client.get("/")
        assert response.status == 200
        return await response.text()


def served_rows(page: str) -> dict[str, str]:
    """The "Metrics served" table: each metric's row, by name."""
    table = page[page.index("<h2>Metrics served</h2>"):]
    return {match[1]: match[0] for match in re.finditer(r"<tr><td><code>([a-z0-9_]+)</code>.*?</tr>", table)}


async def test_every_value_carries_its_unit() -> None:
    page = await status_page()
    external = r'<tr><td><a href="[^"]*"><code>([a-z0-9_]+)</code></a></td><td>external.*?</tr>'
    rows = {match[1]: match[0] for match in re.finditer(external, page)}
    for metric, unit in (("gpu_utilization", "%"), ("latency_p99_seconds", "s"), ("queue_depth", "requests"),
                         ("requests_per_second", "requests/s"), ("energy_per_request_joules", "J/request")):
        assert re.search(rf'<td class="num">[0-9.e+-]+ {re.escape(unit)}</td>', rows[metric]), rows[metric]
        assert f'<td class="unit">{unit}</td>' in served_rows(page)[metric]
    per_pod = re.search(r'<tr><td><a href="[^"]*"><code>gpu_utilization</code></a></td><td>pods.*?</tr>', page)
    assert per_pod is not None and re.search(r"llama-0: [0-9.e+-]+ %", per_pod[0])


async def test_a_tracked_metric_links_to_its_api_path() -> None:
    page = await status_page()
    assert f'<a href="{EXTERNAL}/queue_depth{SELECTOR}"><code>queue_depth</code></a>' in page
    assert f'<a href="{CUSTOM}/queue_depth{SELECTOR}"><code>queue_depth</code></a>' in page


async def test_forecast_metrics_are_among_the_metrics_served() -> None:
    page = await status_page(forecasts=FORECASTS)
    rows = served_rows(page)
    assert '<td class="unit">requests/s</td>' in rows["requests_per_second_forecast"]
    assert '<td class="unit">requests/s</td>' in rows["requests_per_second_planned"]
    assert "queue_depth_forecast" not in rows and "queue_depth_planned" not in rows  # only configured signals


LAYOUT_SCRIPT = """
<script>
// Each text of a value, time or unit cell, and the number of lines the browser broke it into.
const lines = [];
for (const cell of document.querySelectorAll("td.num, td.time, td.unit")) {
  const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let text = texts.nextNode(); text; text = texts.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(text);
    const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
    lines.push([text.textContent, tops.size]);
  }
}
const out = document.createElement("pre");
out.id = "layout";
out.textContent = JSON.stringify(lines);
document.body.append(out);
</script>
"""


def laid_out_lines(page: str, directory: Path, *, width: int) -> list[tuple[str, int]]:
    """Lay ``page`` out in headless Chromium ``width`` pixels wide; each value text and its lines."""
    path = directory / "status.html"
    path.write_text(page.replace("</body>", LAYOUT_SCRIPT + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={directory / 'profile'}",
         f"--window-size={width},800", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )
    match = re.search(r'<pre id="layout">(.*?)</pre>', result.stdout, re.S)
    assert match is not None, result.stderr[-2000:]
    return [(text, count) for text, count in json.loads(html.unescape(match[1]))]


@pytest.mark.integration
@pytest.mark.parametrize("width", [1280, 800])
async def test_no_value_is_broken_over_two_lines_in_a_browser(width: int, tmp_path: Path) -> None:
    page = await status_page(forecasts=FORECASTS)
    lines = laid_out_lines(page, tmp_path, width=width)
    assert [text for text, count in lines if count != 1] == []
    # every value and its time, the four llama pods of two metrics, and a unit per metric served
    assert len(lines) >= 2 * len(PRESETS) + 2 * 4 + len(PRESETS)
