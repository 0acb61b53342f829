"""Self-contained HTML pages: inline CSS, figures as base64 PNG, no scripts, no external URLs."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["escape", "fmt", "page", "section", "table"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2630; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff;
       box-shadow: 0 0 12px rgba(0,0,0,.06); }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e3e7ec; }
p.lead { color: #4a5866; margin-top: 0; }
figure { margin: 12px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
figcaption { font-size: .9em; color: #4a5866; margin-top: 4px; }
table { border-collapse: collapse; margin: 10px 0; font-size: .92em; width: 100%; }
th, td { border-bottom: 1px solid #e3e7ec; padding: 5px 8px; text-align: left;
         vertical-align: top; }
th { background: #f0f3f6; }
th[title] { cursor: help; text-decoration: underline dotted #8a96a3; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: #1b7f3b; font-weight: 600; }
.failed, .diverged { color: #b3261e; font-weight: 600; }
.check { color: #a15c00; font-weight: 600; }
.incomplete { color: #8a6d00; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #edae49; padding: 8px 12px; margin: 10px 0; }
.good { background: #e8f5ec; border-left: 4px solid #1b7f3b; padding: 8px 12px; margin: 10px 0; }
.bad { background: #fdecea; border-left: 4px solid #b3261e; padding: 8px 12px; margin: 10px 0; }
pre { background: #f0f3f6; padding: 8px; overflow-x: auto; font-size: .82em; max-height: 320px; }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: .92em; }
dl.kv dt { color: #4a5866; } dl.kv dd { margin: 0; }
nav a { margin-right: 14px; }
"""


def escape(text: Any) -> str:
    """HTML-escaped str of ``text``."""
    return html.escape(str(text), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits ('-' for None/NaN), other values as str."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "diverged" if math.isinf(value) else "-"
        return f"{value:.{digits}g}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (for cells holding markup)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            num = isinstance(cell, int | float) and not isinstance(cell, bool)
            text = fmt(cell) if num or cell is None else (str(cell) if raw else escape(cell))
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure_html(png_b64: str, alt: str, caption: str) -> str:
    """A <figure> with an inline PNG and its caption (caption may hold markup)."""
    return (
        f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{png_b64}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def section(title: str, body: str, anchor: str) -> str:
    """A titled section with an id to link to."""
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{body}</section>'


def page(title: str, body: str) -> str:
    """A complete HTML document (UTF-8, inline CSS, no scripts, nothing fetched)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
