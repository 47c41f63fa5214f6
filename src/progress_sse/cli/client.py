"""A small synchronous client of the progress-sse API, for the command line.

Every failure becomes `ApiError` with one line a person can act on; the
event stream is read with httpx-sse and resumed with Last-Event-ID.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

RECONNECTS = 20  # a watch gives up after this many drops in a row


class ApiError(Exception):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


@dataclass(frozen=True)
class Api:
    url: str
    key: str
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.key:
            raise ApiError("an API key is needed: --key or PROGRESS_SSE_API_KEY")

    def _client(self, timeout: httpx.Timeout | float | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url.rstrip("/"),
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=self.timeout_s if timeout is None else timeout,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        raw: bool = False,
        content: bytes | None = None,
    ) -> Any:
        """The JSON body of a 2xx answer (or its text with `raw`); anything else raises.
        `content` is a raw body (a CSV upload)."""
        try:
            with self._client() as client:
                response = client.request(method, path, json=json, params=params, content=content)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise error_of(response)
        if raw:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"the server answered something that is not JSON ({path})") from None

    def events(
        self, run_id: str, last_id: str | None, collection: str = "runs"
    ) -> Iterator[ServerSentEvent]:
        """One connection's events of a run (or, with `collection="batches"`, a batch: the
        same contract); ends when the server ends the stream."""
        headers = {"Last-Event-ID": last_id} if last_id else {}
        path = f"/api/{collection}/{run_id}/events"
        with (
            self._client(httpx.Timeout(self.timeout_s, read=None)) as client,
            connect_sse(client, "GET", path, headers=headers) as source,
        ):
            if source.response.status_code != 200:
                source.response.read()
                raise error_of(source.response)
            # Only events with data are events: a block holding just `retry:` is not one
            # (the WHATWG rules dispatch nothing for it), though httpx-sse yields it.
            yield from (event for event in source.iter_sse() if event.data)

    def follow(
        self, run_id: str, on_drop: Any = None, collection: str = "runs"
    ) -> Iterator[ServerSentEvent]:
        """Every event of a run (or batch) until `end`, reconnecting with Last-Event-ID when
        cut."""
        last_id: str | None = None
        drops = 0
        while True:
            try:
                for event in self.events(run_id, last_id, collection):
                    drops = 0
                    if event.id:
                        last_id = event.id
                    yield event
                    if event.event == "end":
                        return
            except httpx.HTTPError as exc:
                if on_drop is not None:
                    on_drop(exc)
            drops += 1
            if drops > RECONNECTS:
                raise ApiError(f"lost the stream of {run_id} {RECONNECTS} times in a row")
            time.sleep(min(0.2 * 2**drops, 5.0))


def error_of(response: httpx.Response) -> ApiError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    message = error.get("message") or f"HTTP {response.status_code}"
    code = error.get("code")
    return ApiError(f"{message} (HTTP {response.status_code}{f' {code}' if code else ''})",
                    response.status_code, code)  # fmt: skip
