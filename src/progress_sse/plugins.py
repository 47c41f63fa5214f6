"""Applications on the engine: what a package adds, and how the engine finds it.

A package names its job kinds (or a whole `Plugin`) in the entry-point group
`progress_sse.jobs`; `PROGRESS_SSE_JOBS` names more as `module:attribute`.
The engine never imports an application: the accounting application in this
repository registers itself exactly as an outside package does.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from starlette.routing import BaseRoute

from progress_sse.errors import Misconfigured
from progress_sse.jobs.kinds import JobKind, JobRegistry

if TYPE_CHECKING:
    import typer

    from progress_sse.settings import Settings

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "progress_sse.jobs"


@dataclass(frozen=True, slots=True)
class DemoSeeding:
    """What a plugin's demo seeder is handed: the tenant just created and its admin key."""

    settings: Settings
    tenant: str
    key: str
    size: int  # how much demo data to create (the accounting application: assets)
    command: str = "progress-sse"  # how this shell runs the CLI, for the commands suggested


@dataclass(frozen=True, slots=True)
class DemoSeeded:
    """What a seeder made: facts for `--json`, lines saying so, commands worth trying."""

    facts: dict[str, Any] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    try_these: tuple[str, ...] = ()


DemoSeeder = Callable[[DemoSeeding], Awaitable[DemoSeeded]]


@dataclass(frozen=True, slots=True)
class Plugin:
    """One application: its job kinds and, if it has them, routes, commands, tables,
    migrations and demo data.

    `migrations` is a folder of Alembic revisions forming the plugin's own
    branch (`progress-sse db upgrade` takes every branch to its head), and
    `metadata` declares the tables they create, so the schema can be checked
    against them. A plugin whose models share the engine's `Base` (as the
    accounting application's do) needs neither.
    """

    name: str
    kinds: tuple[JobKind, ...] = ()
    routes: tuple[BaseRoute, ...] = ()
    commands: typer.Typer | None = None  # merged into `progress-sse`'s own commands
    migrations: Path | None = None
    metadata: MetaData | None = None
    demo: DemoSeeder | None = None


def builtin() -> Plugin:
    """The engine's own `demo` kind: the whole path visible before any application."""
    from progress_sse.jobs.demo import DEMO

    return Plugin(name="progress-sse", kinds=(DEMO,))


class Plugins:
    """The plugins of one process, checked together: kind names are unique across them."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.all: tuple[Plugin, ...] = tuple(plugins)
        owner: dict[str, str] = {}
        for plugin in self.all:
            for kind in plugin.kinds:
                if kind.name in owner:
                    raise Misconfigured(
                        f"job kind {kind.name!r} comes from both {owner[kind.name]!r} and "
                        f"{plugin.name!r}; rename one or disable a plugin "
                        "(PROGRESS_SSE_DISABLE_PLUGINS)"
                    )
                owner[kind.name] = plugin.name
        self.registry = JobRegistry(kind for plugin in self.all for kind in plugin.kinds)

    @property
    def names(self) -> list[str]:
        return [plugin.name for plugin in self.all]

    def routes(self) -> list[BaseRoute]:
        return [route for plugin in self.all for route in plugin.routes]

    def metadata(self) -> MetaData:
        """Every table: the engine's (accounting's share its `Base`) and each plugin's own."""
        from progress_sse.batches import models as _batches  # noqa: F401 - the store's
        from progress_sse.runs.models import Base
        from progress_sse.webhooks import models as _webhooks  # noqa: F401 - the store's

        merged = MetaData()
        for metadata in [Base.metadata, *(p.metadata for p in self.all if p.metadata)]:
            for table in metadata.sorted_tables:
                table.to_metadata(merged)
        return merged

    def migration_folders(self) -> list[Path]:
        return [plugin.migrations for plugin in self.all if plugin.migrations is not None]

    def commands(self) -> list[typer.Typer]:
        return [plugin.commands for plugin in self.all if plugin.commands is not None]

    def demo_seeders(self) -> list[tuple[str, DemoSeeder]]:
        return [(plugin.name, plugin.demo) for plugin in self.all if plugin.demo is not None]


def discover(settings: Settings, extra: Iterable[Plugin | JobKind] = ()) -> Plugins:
    """The built-in kind, every installed package's, the configured ones, then `extra`."""
    named: list[tuple[str, object]] = [("progress-sse", builtin())]
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in settings.disabled_plugins:
            log.info("plugin %s is disabled (PROGRESS_SSE_DISABLE_PLUGINS)", entry.name)
            continue
        named.append((entry.name, _load(entry.name, entry.value, entry.load)))
    for spec in settings.job_specs:
        named.append((spec, _load(spec, spec, functools.partial(resolve, spec))))
    named.extend((getattr(item, "name", "extra"), item) for item in extra)
    return Plugins(as_plugin(name, value) for name, value in _unique(named))


def resolve(spec: str) -> object:
    """`package.module:attribute` -> the object it names."""
    module, _, attribute = spec.partition(":")
    target: object = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def as_plugin(name: str, value: object) -> Plugin:
    """A `Plugin`, one `JobKind` or a sequence of them, as a plugin named `name`."""
    if isinstance(value, Plugin):
        return value
    if isinstance(value, JobKind):
        return Plugin(name=name, kinds=(value,))
    if isinstance(value, Sequence) and value and all(isinstance(v, JobKind) for v in value):
        return Plugin(name=name, kinds=tuple(value))
    raise Misconfigured(
        f"{name!r} names {type(value).__name__}; a job plugin names a JobKind, "
        "a sequence of JobKinds or a Plugin"
    )


def _load(name: str, where: str, load: Callable[[], object]) -> object:
    try:
        return load()
    except Exception as exc:  # an import error in someone's package: say whose, and stop
        raise Misconfigured(
            f"job plugin {name!r} ({where}) could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc


def _unique(named: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """The same object installed and also configured counts once."""
    seen: set[int] = set()
    unique = []
    for name, value in named:
        if id(value) not in seen:
            seen.add(id(value))
            unique.append((name, value))
    return unique
