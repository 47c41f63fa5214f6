"""The browser page and its client: `index.html` never cached, assets under content-hashed
names cached a year, and the embeddable client also at a stable URL that browsers revalidate.

A deploy therefore always reaches the browser: the page names the new `app.<hash>.js`, and
old names simply stop being referenced. An asset names another as `{{name}}`; it is
replaced by that asset's hashed name, so a change to `progress-run.js` renames every module
that imports it too. Other applications' pages import `client/progress-run.js`
(docs/browser-client.md): its URL must not change, so it is served with an ETag instead.
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

# Each asset after every asset it names: the hashes are computed in this order.
ASSETS = ("progress-run.js", "start-form.js", "batch-view.js", "accounting.js", "app.js", "app.css")
CLIENT = "progress-run.js"  # also served at /client/progress-run.js
YEAR = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # may be stored, but asked for again (a 304 when unchanged)


def static_folder() -> Path:
    here = Path(__file__).resolve().parents[2]  # the package folder
    for folder in (here / "_static", here.parents[1] / "static"):
        if (folder / "index.html").is_file():
            return folder
    raise RuntimeError("static/index.html not found next to the package")


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str
    etag: str  # quoted, as the header carries it


@dataclass(frozen=True)
class Page:
    index: bytes
    assets: dict[str, Asset]  # hashed name -> the asset
    client: Asset | None  # the embeddable client, at its stable URL


def _asset(content: bytes, name: str) -> Asset:
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".js"):
        media = "text/javascript"  # a module script must be served as JavaScript
    return Asset(content, media, f'"{hashlib.sha256(content).hexdigest()[:32]}"')


def load_page(folder: Path, names: tuple[str, ...] = ASSETS) -> Page:
    """Hash each asset and write the hashed names into the assets and index.html."""
    hashed: dict[str, str] = {}
    assets: dict[str, Asset] = {}
    for name in names:
        text = (folder / name).read_text()
        for earlier, earlier_hashed in hashed.items():
            text = text.replace("{{" + earlier + "}}", f"./{earlier_hashed}")
        if "{{" in text and "}}" in text.split("{{", 1)[1]:
            raise RuntimeError(f"static/{name} names an asset not listed before it in ASSETS")
        asset = _asset(text.encode(), name)
        stem, _, suffix = name.rpartition(".")
        hashed[name] = f"{stem}.{asset.etag.strip(chr(34))[:12]}.{suffix}"
        assets[hashed[name]] = asset
    index = (folder / "index.html").read_text()
    for name, hashed_name in hashed.items():
        index = index.replace("{{" + name + "}}", f"assets/{hashed_name}")  # relative: any prefix
    client = assets[hashed[CLIENT]] if CLIENT in hashed else None
    return Page(index=index.encode(), assets=assets, client=client)


def _serve(asset: Asset, request: Request, cache_control: str) -> Response:
    headers = {
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.content, media_type=asset.media_type, headers=headers)


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
        return _serve(found, request, YEAR)

    async def client(request: Request) -> Response:
        if page.client is None:
            raise NotFound("No such file.")
        return _serve(page.client, request, REVALIDATE)

    return [
        Route("/", index, methods=["GET"]),
        Route("/assets/{name}", asset, methods=["GET"]),
        Route(f"/client/{CLIENT}", client, methods=["GET"]),
    ]
