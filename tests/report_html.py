"""A run report read back as a person reads it: its sections by heading, their facts, tables
and links, as text (html.parser, so the tests never depend on the template's whitespace)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Section:
    title: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    tables: list[list[list[str]]] = field(default_factory=list)  # table -> rows -> cells
    paragraphs: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, href)

    def rows(self, table: int = 0) -> list[list[str]]:
        """The table's rows without its header row."""
        return self.tables[table][1:]


@dataclass
class Report:
    sections: dict[str, Section]
    badge: str
    style: str  # the inline stylesheet, as sent
    text: str  # every text node, joined

    def __getitem__(self, title: str) -> Section:
        return self.sections[title]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, Section] = {}
        self.current = Section()
        self.stack: list[str] = []
        self.buffer: list[str] | None = None
        self.dt = ""
        self.row: list[str] | None = None
        self.href: str | None = None
        self.badge = ""
        self.style = ""
        self.texts: list[str] = []
        self._in_badge = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "wbr":  # a break opportunity inside a word: the word goes on
            return
        self.texts.append(" ")
        self.stack.append(tag)
        if tag in ("h2", "dt", "dd", "td", "th", "p", "a", "style"):
            self.buffer = []
        if tag == "table":
            self.current.tables.append([])
        elif tag == "tr":
            self.row = []
        elif tag == "a":
            self.href = attributes.get("href")
        elif tag == "span" and "badge" in (attributes.get("class") or ""):
            self._in_badge = True

    def handle_endtag(self, tag: str) -> None:
        self.texts.append(" ")
        text = " ".join("".join(self.buffer or []).split())
        if tag == "h2":
            self.current = Section(title=text)
            self.sections[text] = self.current
        elif tag == "dt":
            self.dt = text
        elif tag == "dd":
            self.current.facts[self.dt] = text
        elif tag in ("td", "th") and self.row is not None:
            self.row.append(text)
        elif tag == "tr" and self.row is not None:
            self.current.tables[-1].append(self.row)
            self.row = None
        elif tag == "p":
            self.current.paragraphs.append(text)
        elif tag == "a":
            self.current.links.append((text, self.href or ""))
        elif tag == "style":
            self.style = "".join(self.buffer or [])
        elif tag == "span":
            self._in_badge = False
        if tag in ("h2", "dt", "dd", "td", "th", "p", "style"):
            self.buffer = None
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self.buffer is not None:
            self.buffer.append(data)
        if self._in_badge:
            self.badge += data


def read_report(html: str) -> Report:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    text = " ".join("".join(reader.texts).split())
    return Report(reader.sections, reader.badge.strip(), reader.style, text)
