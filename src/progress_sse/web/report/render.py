"""A `RunReport` as one HTML document: Jinja2 with autoescape, the stylesheet inline.

Inline because a report is kept: the CLI saves it, a browser saves it, and it
must look the same opened from a disk years later, with no server. The
response's Content-Security-Policy allows exactly that stylesheet (by its
SHA-256) and nothing else: no script, no other style, no image, no frame.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from progress_sse.web.report.model import RunReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
PIECE = 24  # at most this many characters of an unbroken run between two break opportunities
LONG_RUN = re.compile(r"\S{17,}")  # shorter words (amounts, dates, codes) stay whole
AFTER = re.compile(r"(?<=[_/.=&?])")  # where a long identifier or path breaks best


@dataclass(frozen=True, slots=True)
class Renderer:
    template: Template
    css: str
    csp: str  # the Content-Security-Policy that lets exactly `css` apply

    def render(self, report: RunReport) -> str:
        return self.template.render(report=report, css=Markup(self.css))


@functools.cache
def renderer() -> Renderer:
    """Built once per process (templates and the stylesheet are read only here)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is text a job or a user wrote
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["breakable"] = breakable
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return Renderer(env.get_template("report.html"), css, policy(css))


def policy(css: str) -> str:
    """No script at all; the one inline stylesheet, by hash; nothing loaded from anywhere."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def breakable(value: object) -> Markup:
    """`value` escaped, with line-break opportunities (`<wbr>`) in a long unbroken run (after
    `_`, `/` and the like, and every `PIECE` characters): one identifier, hash or hostile
    string cannot widen a table, and the ordinary words of a narrow column stay whole."""
    text, pieces, last = str(value), [], 0
    for run in LONG_RUN.finditer(text):
        word = run.group()
        pieces.append(escape(text[last : run.start()]))
        parts = AFTER.split(word)
        chunks = (part[i : i + PIECE] for part in parts for i in range(0, len(part), PIECE))
        pieces.append(Markup("<wbr>").join(escape(chunk) for chunk in chunks))
        last = run.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)
