"""Writers for the demo report: the terminal summary table and report.html.

The HTML page is made with the standard library only, from the same
Markdown text as ``report.md``. It understands the subset the demo writes:
``#`` headings, paragraphs, pipe tables, ``- `` lists, images (embedded as
base64 data URIs so the page is one self-contained file), ``**bold**``,
``_italic_`` and ``code`` spans.
"""

from __future__ import annotations

import base64
import html
import math
import mimetypes
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "at_chance",
    "chance_flag",
    "format_ci",
    "format_value",
    "verdict",
    "summary_rows",
    "format_text_table",
    "format_markdown_table",
    "markdown_to_html",
]

#: Column names of the summary table.
SUMMARY_COLUMNS = ("section", "metric", "ours", "paper")


def format_value(value: Any) -> str:
    """Format a table cell: floats with 3 decimals, ``None``/NaN as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def format_ci(ci: dict[str, float], digits: int = 3) -> str:
    """``value [low, high]`` of a :func:`skastro.metrics.bootstrap_ci` result."""
    value, low, high = ci["value"], ci.get("low"), ci.get("high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def at_chance(ci: dict[str, float], chance: float) -> bool:
    """True when a score's interval reaches the chance level (or, without an
    interval, when the score itself is at or below it)."""
    low = ci.get("low")
    if low is None or math.isnan(low):
        low = ci["value"]
    return bool(low <= chance)


def chance_flag(ci: dict[str, float], chance: float | None) -> str:
    """`` (**at chance**)`` to append to a table cell whose score
    :func:`at_chance` flags; an empty string otherwise or without a chance
    level."""
    return " (**at chance**)" if chance is not None and at_chance(ci, chance) else ""


def _negated(ci: dict[str, float]) -> dict[str, float]:
    """The interval of ``-x`` from that of ``x`` (b − a from a − b)."""
    return {"value": -ci["value"], "low": -ci["high"], "high": -ci["low"]}


def _excludes_zero(ci: dict[str, float]) -> str:
    """``"excludes 0"`` or ``"includes 0"`` for a difference's interval."""
    return "excludes 0" if ci["low"] > 0 or ci["high"] < 0 else "includes 0"


def verdict(
    scores: dict[str, dict[str, float]],
    *,
    metric: str = "accuracy",
    chance: float | None = None,
    paired: tuple[str, str, dict[str, float]] | None = None,
    paired_on: str = "the same test set",
    also: dict[str, dict[str, float]] | None = None,
    paper: str | None = None,
    why: str | None = None,
) -> str:
    """One line in plain words: who wins, by how much, chance, the paper.

    A win is judged by the paired difference when ``paired`` compares the two
    leading models (the right test when both are measured on the same test
    items): a clear win when its interval excludes 0. Otherwise by the
    models' own intervals: a clear win when they do not overlap.

    Parameters
    ----------
    scores : dict
        ``model name -> {"value", "low", "high"}`` (higher is better); the two
        best are compared.
    metric : str
        What the scores measure, for the sentence.
    chance : float, optional
        The chance level (:func:`skastro.metrics.chance_level`); models whose
        interval reaches it are flagged "at chance".
    paired : (str, str, dict), optional
        ``(a, b, ci)``: the bootstrap interval ``{"value", "low", "high"}`` of
        the difference a − b measured on the same test items, a and b keys of
        ``scores``.
    paired_on : str
        What the paired difference was measured on, for the sentence, e.g.
        ``"the same 200 test images"``.
    also : dict, optional
        Further models of the section's table, ``name -> interval``: not
        ranked, only flagged when at chance.
    paper : str, optional
        The paper's figures, e.g. ``"Tanoglidis et al. (2021): 0.920 vs 0.819"``.
    why : str, optional
        Why our result differs from the paper (or from our larger runs),
        where it does.

    Returns
    -------
    line : str
        Markdown, starting with ``**Verdict:**``.

    Raises
    ------
    ValueError
        If ``paired`` names a model that is not in ``scores``.
    """
    if paired is not None:
        unknown = [name for name in paired[:2] if name not in scores]
        if unknown:
            raise ValueError(
                f"paired names {unknown} not among the scores' models {list(scores)}"
            )
    ranked = sorted(scores.items(), key=lambda kv: -kv[1]["value"])
    parts = []
    if len(ranked) == 1:
        name, ci = ranked[0]
        parts.append(f"{name} reaches {metric} {format_ci(ci)}")
    else:
        (best, b), (second, s) = ranked[0], ranked[1]
        gap = b["value"] - s["value"]
        pair = None
        if paired is not None and set(paired[:2]) == {best, second}:
            pair = paired[2] if paired[0] == best else _negated(paired[2])
        if pair is not None:
            clear = pair["low"] > 0
            how = (
                f"paired difference on {paired_on} {format_ci(pair)} "
                f"{_excludes_zero(pair)}" + ("" if clear else ", so not a clear win")
            )
        else:
            clear = b.get("low", b["value"]) > s.get("high", s["value"])
            how = (
                "the bootstrap intervals do not overlap"
                if clear
                else "the bootstrap intervals overlap, so not a clear win"
            )
        head = f"{best} wins" if clear else f"{best} leads"
        parts.append(
            f"{head} on {metric}: {format_ci(b)} against {second} "
            f"{format_ci(s)}, ahead by {gap:.3f} ({how})"
        )
        if paired is not None and pair is None:
            a, z, ci = paired
            parts.append(
                f"paired difference {a} − {z} on {paired_on} {format_ci(ci)} "
                f"({_excludes_zero(ci)})"
            )
    if chance is not None:
        flat = [
            name
            for name, ci in [*ranked, *(also or {}).items()]
            if at_chance(ci, chance)
        ]
        if flat:
            parts.append(
                f"**at chance** ({chance:.3f}): {', '.join(flat)} "
                "(no evidence of learning)"
            )
    if paper:
        parts.append(f"paper: {paper}")
    if why:
        parts.append(why)
    return "**Verdict:** " + "; ".join(parts) + "."


def summary_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per headline result: ``section, metric, ours, paper``.

    Parameters
    ----------
    results : dict
        ``short section name -> {"comparisons": [(metric, ours, paper), ...]}``
        as collected by :func:`skastro._demo.run_demo`; ``paper`` is ``None``
        where the paper has no comparable figure.

    Returns
    -------
    rows : list of dict
        Cells already formatted as strings.
    """
    rows = []
    for short, res in results.items():
        for metric, ours, paper in res.get("comparisons", []):
            rows.append(
                {
                    "section": short,
                    "metric": str(metric),
                    "ours": format_value(ours),
                    "paper": format_value(paper),
                }
            )
    return rows


def format_text_table(
    rows: Sequence[dict[str, str]], columns: Sequence[str] = SUMMARY_COLUMNS
) -> str:
    """Align ``rows`` in plain-text columns for the terminal."""
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    numeric = {"ours", "paper"}

    def line(cells: dict[str, str]) -> str:
        parts = [
            cells[c].rjust(widths[c]) if c in numeric else cells[c].ljust(widths[c])
            for c in columns
        ]
        return "  ".join(parts).rstrip()

    out = [line({c: c for c in columns})]
    out.append("  ".join("-" * widths[c] for c in columns))
    out += [line(r) for r in rows]
    return "\n".join(out)


def format_markdown_table(
    rows: Sequence[dict[str, str]], columns: Sequence[str] = SUMMARY_COLUMNS
) -> str:
    """The same rows as a Markdown pipe table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return "\n".join(out)


_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w])_([^_]+?)_(?![\w])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    """Escape ``text`` and render code, bold and italic spans."""
    # code spans first, so that their content is not formatted further
    pieces = re.split(r"(`[^`]+`)", text)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(f"<code>{html.escape(piece[1:-1])}</code>")
            continue
        piece = html.escape(piece, quote=False)
        for pattern, repl in _INLINE:
            piece = pattern.sub(repl, piece)
        out.append(piece)
    return "".join(out)


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _image(alt: str, src: str, base: Path | None) -> str:
    """An ``<img>``; a local file is embedded as a base64 data URI."""
    path = Path(src) if base is None else base / src
    if path.is_file():
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:{mime};base64,{data}"
    else:
        src = html.escape(src)
    return f'<figure><img src="{src}" alt="{html.escape(alt)}"></figure>'


_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
img { max-width: 100%; }
figure { margin: 1em 0; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def markdown_to_html(
    markdown: str, *, title: str = "skastro demo report", base: Path | None = None
) -> str:
    """Render the demo's Markdown to one self-contained HTML page.

    Parameters
    ----------
    markdown : str
        Text in the subset written by the demo (see the module docstring).
    title : str
        The page title.
    base : path, optional
        Folder that relative image paths are resolved against; images found
        there are embedded, others are linked.

    Returns
    -------
    page : str
        A complete HTML5 document.
    """
    lines = markdown.splitlines()
    body: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append("<p>" + _inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        heading = _HEADING.match(stripped)
        image = _IMAGE.match(stripped)
        if heading:
            flush()
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif image:
            flush()
            body.append(_image(image.group(1), image.group(2), base))
            i += 1
        elif stripped.startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i].strip())
                i += 1
            body.append(_table(block))
        elif stripped.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            body.append("<ul>\n" + "\n".join(items) + "\n</ul>")
        else:
            paragraph.append(stripped)
            i += 1
    flush()
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _table(block: Iterable[str]) -> str:
    """A pipe table (header row, rule row, body rows) as HTML."""
    block = list(block)
    if len(block) >= 2 and _RULE.match(block[1]):
        head, rows = _split_row(block[0]), block[2:]
    else:
        head, rows = None, block
    out = ["<table>"]
    if head is not None:
        out.append(
            "<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
            "</thead>"
        )
    out.append("<tbody>")
    for row in rows:
        cells = "".join(f"<td>{_inline(c)}</td>" for c in _split_row(row))
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)
