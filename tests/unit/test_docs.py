"""The docs point where they say: relative links reach a file (and a heading), the README
lists every page, and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from progress_sse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages the README lists that are written elsewhere and may not have landed yet.
# Links to them are allowed to dangle; once a page exists it is checked like any other.

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(path):
        text = CODE_SPAN.sub("", line)
        found += [(number, m.group(1)) for m in INLINE_LINK.finditer(text)]
        if match := REFERENCE_LINK.match(text):
            found.append((number, match.group(1)))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    found: set[str] = set()
    count: dict[str, int] = {}
    for _number, line in prose_lines(path):
        if match := HEADING.match(line):
            base = slug(match.group(2))
            n = count.get(base, 0)
            found.add(f"{base}-{n}" if n else base)
            count[base] = n + 1
    return found


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE))


LINKS = [(page, number, target) for page in PAGES for number, target in links(page)]


@pytest.mark.parametrize(
    ("page", "number", "target"),
    [link for link in LINKS if not is_external(link[2])],
    ids=[f"{p.relative_to(ROOT)}:{n}:{t}" for p, n, t in LINKS if not is_external(t)],
)
def test_every_relative_link_reaches_a_file_and_a_heading(
    page: Path, number: int, target: str
) -> None:
    where = f"{page.relative_to(ROOT).as_posix()}:{number}"
    file_part, _, fragment = target.partition("#")
    file = (page.parent / unquote(file_part)).resolve() if file_part else page
    name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
    assert file.exists(), f"{where}: the link {target!r} points at {name}, which does not exist"
    if fragment and file.suffix == ".md":
        assert unquote(fragment) in anchors(file), (
            f"{where}: the link {target!r}: {name} has no heading whose anchor is #{fragment}"
        )


def test_the_readme_lists_every_docs_page() -> None:
    listed = {
        (ROOT / target.partition("#")[0]).resolve()
        for _number, target in links(ROOT / "README.md")
        if not is_external(target)
    }
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in listed]
    assert not missing, f"README.md does not link to docs/{', docs/'.join(missing)}"


def test_every_setting_is_documented_in_operations() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [
        f"PROGRESS_SSE_{name.upper()}"
        for name in Settings.model_fields
        if not re.search(rf"\bPROGRESS_SSE_{name.upper()}\b", text)
    ]
    assert not missing, f"docs/operations.md does not document {', '.join(missing)}"


def test_the_slugs_are_githubs() -> None:
    assert slug("Webhook targets (SSRF)") == "webhook-targets-ssrf"
    assert slug("`asset_depreciation`: a month end") == "asset_depreciation-a-month-end"
    assert slug("Authentication, sessions and CSRF") == "authentication-sessions-and-csrf"
