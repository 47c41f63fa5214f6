"""The browser page: `index.html` never cached, assets under content-hashed names cached a year.

A deploy therefore always reaches the browser: the page names the new
`app.<hash>.js`, and old names simply stop being referenced.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from progress_sse.errors import NotFound

ASSETS = ("app.js", "app.css")
YEAR = "public, max-age=31536000, immutable"


def static_folder() -> Path:
    here = Path(__file__).resolve().parents[2]  # the package folder
    for folder in (here / "_static", here.parents[1] / "static"):
        if (folder / "index.html").is_file():
            return folder
    raise RuntimeError("static/index.html not found next to the package")


@dataclass(frozen=True)
class Page:
    index: bytes
    assets: dict[str, tuple[bytes, str]]  # hashed name -> (content, media type)


def load_page(folder: Path) -> Page:
    """Hash each asset and write the hashed names into index.html (`{{app.js}}`)."""
    index = (folder / "index.html").read_text()
    assets: dict[str, tuple[bytes, str]] = {}
    for name in ASSETS:
        content = (folder / name).read_bytes()
        stem, _, suffix = name.rpartition(".")
        hashed = f"{stem}.{hashlib.sha256(content).hexdigest()[:12]}.{suffix}"
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        assets[hashed] = (content, media)
        index = index.replace("{{" + name + "}}", f"/assets/{hashed}")
    return Page(index=index.encode(), assets=assets)


def routes(page: Page) -> list[Route]:
    async def index(_request: Request) -> Response:
        return Response(
            page.index,
            media_type="text/html",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def asset(request: Request) -> Response:
        found = page.assets.get(request.path_params["name"])
        if found is None:
            raise NotFound("No such file.")
        content, media = found
        return Response(
            content,
            media_type=media,
            headers={"Cache-Control": YEAR, "X-Content-Type-Options": "nosniff"},
        )

    return [Route("/", index, methods=["GET"]), Route("/assets/{name}", asset, methods=["GET"])]
