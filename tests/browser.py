"""Headless Chromium (Debian's ``chromium``) for the tests that look at pages as people do: the
binary, and a page opened over the DevTools protocol with everything it did recorded: console
errors, uncaught exceptions, requests it made, and a screenshot of it and of each figure."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

LAUNCH_TIMEOUT_S = 60.0
LOAD_TIMEOUT_S = 60.0


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail("no Chromium on PATH; install Debian's package with `apt-get install chromium` (.ci/setup --test does)")


@dataclass
class PageVisit:
    """What a page did while it loaded in the browser."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for beyond itself and its data: URIs."""
    figures: dict[str, Image.Image] = field(default_factory=dict)
    """A screenshot of each ``img.figure``, by its id, at the size it is laid out."""


async def visit(page: Path, directory: Path, *, screenshot: Path, width: int = 1280) -> PageVisit:
    """Open ``page`` in headless Chromium and record what it does; the whole page is saved to
    ``screenshot``."""
    async with _browser(directory, width) as port, aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
            target = next(item for item in await answer.json(content_type=None) if item["type"] == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            devtools = _DevTools(socket)
            try:
                return await _look(devtools, page, screenshot)
            finally:
                devtools.stop()


async def _look(devtools: _DevTools, page: Path, screenshot: Path) -> PageVisit:
    for domain in ("Page", "Runtime", "Log", "Network"):
        await devtools.call(f"{domain}.enable")
    await devtools.call("Page.navigate", url=page.as_uri())
    await asyncio.wait_for(devtools.loaded.wait(), LOAD_TIMEOUT_S)
    shot = await devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    visit = PageVisit(devtools.errors, [url for url in devtools.urls if url != page.as_uri()])
    boxes = await devtools.evaluate(
        "JSON.stringify([...document.querySelectorAll('img.figure')].map(image => {"
        " const box = image.getBoundingClientRect();"
        " return [image.id, box.left + scrollX, box.top + scrollY, box.width, box.height, image.complete"
        " && image.naturalWidth > 0]; }))")
    for name, left, top, box_width, box_height, decoded in json.loads(boxes):
        if not decoded or box_width < 1 or box_height < 1:
            continue  # a broken image has no figure: the caller finds it missing
        clip = {"x": left, "y": top, "width": box_width, "height": box_height, "scale": 1}
        picture = await devtools.call("Page.captureScreenshot", format="png", clip=clip,
                                      captureBeyondViewport=True)
        visit.figures[name] = Image.open(io.BytesIO(base64.b64decode(picture["data"]))).convert("RGB")
    return visit


def drawn_share(image: Image.Image) -> float:
    """The share of pixels that are not the background (the most common colour)."""
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    background = max(count for count, _ in colours)
    return 1 - background / (image.width * image.height)


@contextlib.asynccontextmanager
async def _browser(directory: Path, width: int) -> AsyncIterator[int]:
    """A headless Chromium with DevTools on a free port; yields the port, stops it after."""
    process = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
        f"--user-data-dir={directory / 'chromium-profile'}", f"--window-size={width},1000", "about:blank",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr
    drain: asyncio.Task[bytes] | None = None
    try:
        port = await asyncio.wait_for(_devtools_port(stderr), LAUNCH_TIMEOUT_S)
        drain = asyncio.get_running_loop().create_task(stderr.read())  # a full pipe would stall Chromium
        yield port
    finally:
        if drain is not None:
            drain.cancel()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _devtools_port(stderr: asyncio.StreamReader) -> int:
    """The port of the line ``DevTools listening on ws://127.0.0.1:PORT/...``."""
    seen = []
    while line := await stderr.readline():
        text = line.decode(errors="replace")
        seen.append(text)
        match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", text)
        if match:
            return int(match[1])
    raise AssertionError("Chromium exited before DevTools listened:\n" + "".join(seen[-20:]))


class _DevTools:
    """Calls over one page's DevTools socket, recording the events the visit looks for."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._next = 0
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.loaded = asyncio.Event()
        self.errors: list[str] = []
        self.urls: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def stop(self) -> None:
        self._reader.cancel()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[self._next] = answer
        await self._socket.send_json({"id": self._next, "method": method, "params": params})
        return await asyncio.wait_for(answer, LOAD_TIMEOUT_S)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"]["value"]

    async def _read(self) -> None:
        async for message in self._socket:
            data = json.loads(message.data)
            if "id" in data:
                if "error" in data:
                    self._answers.pop(data["id"]).set_exception(AssertionError(data["error"]))
                else:
                    self._answers.pop(data["id"]).set_result(data.get("result", {}))
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Page.loadEventFired":
                self.loaded.set()
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif method == "Runtime.exceptionThrown":
                self.errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith("data:"):
                    self.urls.append(url)
