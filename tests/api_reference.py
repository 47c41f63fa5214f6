"""docs/python-api.md, written from the public API's docstrings and signatures.

`python -m tests.api_reference > docs/python-api.md` rewrites it; the suite
checks that the page is what this writes (tests/unit/test_public_api.py).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from pydantic_settings import BaseSettings

import progress_sse

HEADER = """# The Python API

What `import progress_sse` offers: everything a job author and an integrator
needs, and nothing else (`progress_sse.__all__`). Any other module is internal
and may change. Written from the docstrings by `tests/api_reference.py`; the
suite fails if this page and the code disagree. How to use it:
[writing a job](writing-a-job.md).
"""


def signature(obj: Any, *, skip_self: bool = False) -> str:
    """A signature as written in the source (its annotations are strings there)."""
    try:
        found = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts: list[str] = []
    star_done = False
    for param in found.parameters.values():
        if skip_self and param.name == "self":
            continue
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if param.kind is param.VAR_POSITIONAL:
            star_done = True
        text = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        text += param.name
        if param.annotation is not param.empty:
            text += f": {annotation(param.annotation)}"
        if param.default is not param.empty:
            text += f" = {'...' if callable(param.default) else repr(param.default)}"
        parts.append(text)
    returns = found.return_annotation
    tail = f" -> {annotation(returns)}" if returns is not found.empty else ""
    return f"({', '.join(parts)}){tail}"


def annotation(value: Any) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)


def doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def members(cls: type) -> list[tuple[str, Any]]:
    """The public methods and properties a class defines itself, in source order."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in fields:
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            found.append((name, value))
    return found


def settings_section(name: str, cls: type[BaseSettings]) -> list[str]:
    """Settings are read from the environment: one row per variable."""
    lines = [f"## `{name}`", "", f"```python\n{name}(**overrides)\n```", "", doc(cls), ""]
    lines += ["| variable | type | default | about |", "|---|---|---|---|"]
    for field, info in cls.model_fields.items():
        kind = annotation(info.annotation).replace("|", "\\|")
        default = "" if info.default is None else f"`{info.default!r}`"
        about = (info.description or "").replace("|", "\\|")
        lines.append(f"| `PROGRESS_SSE_{field.upper()}` | `{kind}` | {default} | {about} |")
    return [*lines, ""]


def class_section(name: str, cls: type) -> list[str]:
    if issubclass(cls, BaseSettings):
        return settings_section(name, cls)
    lines = [f"## `{name}`", ""]
    dataclass = dataclasses.is_dataclass(cls)
    made = signature(cls) if dataclass else signature(cls.__init__, skip_self=True)
    lines += [f"```python\n{name}{made}\n```", ""]
    lines += [doc(cls), ""]
    for member, value in members(cls):
        if isinstance(value, property):
            lines += [f"### `{name}.{member}`", "", doc(value.fget) or "(a property)", ""]
            continue
        function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        text = signature(function, skip_self=True)
        prefix = "async " if inspect.iscoroutinefunction(function) else ""
        lines += [f"### `{name}.{member}`", "", f"```python\n{prefix}{member}{text}\n```", ""]
        if doc(function):
            lines += [doc(function), ""]
    return lines


def function_section(name: str, function: Any) -> list[str]:
    prefix = "async " if inspect.iscoroutinefunction(function) else ""
    return [f"## `{name}`", "", f"```python\n{prefix}{name}{signature(function)}\n```", "",
            doc(function), ""]  # fmt: skip


def page() -> str:
    lines = [HEADER]
    for name in sorted(progress_sse.__all__, key=lambda n: (not n[0].isupper(), n.lower())):
        obj = getattr(progress_sse, name)
        lines += class_section(name, obj) if inspect.isclass(obj) else function_section(name, obj)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(page(), end="")
