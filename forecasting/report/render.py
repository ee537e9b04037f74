"""The content blocks as one self-contained HTML page (images as data URIs, no script, nothing
fetched) and as Markdown whose images are SVG files beside it."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from forecasting.report.content import Block, Code, Figure, Heading, Table, Text

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
         "pre{background:#f6f6f6;padding:1em}figure{margin:1em 0}img{max-width:100%}")


def html_page(blocks: Sequence[Block]) -> str:
    title = next((block.text for block in blocks if isinstance(block, Heading)), "Foresight report")
    body = "\n".join(_html(block) for block in blocks)
    # the policy forbids every fetch but inline style and data: images, so the page shows what it holds
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _html(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, Code):
        return f'<pre><code class="language-{block.language}">{html.escape(block.text)}</code></pre>'
    data = base64.b64encode(block.svg.encode("utf-8")).decode("ascii")
    return (f'<figure><img class="figure" id="{html.escape(block.stem)}" alt="{html.escape(block.caption)}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>{html.escape(block.caption)}</figcaption></figure>')


def markdown(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_markdown(block) for block in blocks) + "\n"


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Table):
        cells = [block.header, tuple("---" for _ in block.header), *block.rows]
        return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells)
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    return f"![{block.caption}]({block.stem}.svg)"


def images(blocks: Sequence[Block]) -> dict[str, str]:
    """``{file name: svg}`` of every figure, for the Markdown's folder."""
    return {f"{block.stem}.svg": block.svg for block in blocks if isinstance(block, Figure)}
