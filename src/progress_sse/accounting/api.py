"""Routes of the accounting domain: periods, the depreciation journal, asset import."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.accounting.asset_import.job import stored_rejections
from progress_sse.accounting.asset_import.models import AssetUpload
from progress_sse.accounting.asset_import.parse import CsvError, check_header
from progress_sse.accounting.asset_import.rejected import layout_of, rejected_csv
from progress_sse.accounting.close import close_lock_key, close_spec
from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.journal import (
    DOCUMENT_COLUMNS,
    JOURNAL_COLUMNS,
    documents,
    journal_lines,
)
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.errors import BadRequest, NotFound, ValidationFailed
from progress_sse.runs.events import iso, utc_now
from progress_sse.web.api.batches import checked_spec, start_batch
from progress_sse.web.api.body import query_int, read_body
from progress_sse.web.api.runs import caller, start
from progress_sse.web.csvout import csv_response, csv_text
from progress_sse.web.services import Services


def period_from(request: Request) -> Period:
    """`{year}/{month}` of the path, with the same bounds as the job's params (422)."""
    year, month = request.path_params["year"], request.path_params["month"]
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise ValidationFailed(
            "The period must have a year from 2000 to 2100 and a month from 1 to 12.",
            fields=[{"field": "year/month", "message": "out of range"}],
        )
    return Period(year, month)


async def lock_period(request: Request) -> Response:
    """Lock a month (admin); 409 `run_active` while a posting run of that month is active."""
    svc, who = await caller(request)
    who.require_admin()
    period = period_from(request)
    await periods.refuse_while_posting(svc.store, who.tenant_id, period)
    at = await periods.lock(svc.business_sessions, who.tenant_id, period, by=who.key_prefix)
    return JSONResponse(
        {"success": True, "period": str(period), "locked": True, "locked_at": iso(at)}
    )


async def unlock_period(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    period = period_from(request)
    was_locked = await periods.unlock(svc.business_sessions, who.tenant_id, period)
    return JSONResponse(
        {"success": True, "period": str(period), "locked": False, "was_locked": was_locked}
    )


async def list_periods(request: Request) -> Response:
    svc, who = await caller(request)
    rows = await periods.locked_periods(svc.business_sessions, who.tenant_id)
    data = [
        {"period": str(Period(r.year, r.month)), "year": r.year, "month": r.month,
         "locked_at": iso(r.locked_at), "locked_by": r.locked_by}
        for r in rows
    ]  # fmt: skip
    return JSONResponse({"success": True, "data": data})


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed(
            "'format' must be json or csv.", fields=[{"field": "format", "message": "json or csv"}]
        )
    return fmt


async def depreciation_journal(request: Request) -> Response:
    """The month's journal: every document and its lines, as JSON or `?format=csv`.

    Amounts are exact decimal text; a reversal's lines are the negated
    originals, so the net total is what the month's posted document says.
    """
    svc, who = await caller(request)
    period, fmt = period_from(request), _format(request)
    async with svc.business_sessions() as session:
        lines, total = await journal_lines(session, who.tenant_id, period)
        docs = [] if fmt == "csv" else await documents(session, who.tenant_id, period)
    if fmt == "csv":
        rows = [*(list(line.values()) for line in lines), _total_row(period, total)]
        return csv_response(csv_text(JOURNAL_COLUMNS, rows), f"depreciation-{period}.csv")
    posted = next(
        (d for d in docs if d["type"] == "depreciation" and d["status"] == "posted"), None
    )
    return JSONResponse({
        "success": True,
        "period": str(period),
        "document_no": posted["document_no"] if posted else None,
        "documents": [_json_values(d) for d in docs],
        "totals": {
            "entries": posted["entries"] if posted else 0,
            "lines": len(lines),
            "amount": str(total),
        },
        "data": [_json_values(line) for line in lines],
    })  # fmt: skip


def _total_row(period: Period, total: Decimal) -> list[Any]:
    row: list[Any] = ["TOTAL", *([""] * (len(JOURNAL_COLUMNS) - 1))]
    row[JOURNAL_COLUMNS.index("year")] = period.year
    row[JOURNAL_COLUMNS.index("month")] = period.month
    row[JOURNAL_COLUMNS.index("amount")] = total
    return row


async def depreciation_documents(request: Request) -> Response:
    """The month's documents: number, type, status, who, when, which run, which parameters."""
    svc, who = await caller(request)
    period, fmt = period_from(request), _format(request)
    async with svc.business_sessions() as session:
        docs = await documents(session, who.tenant_id, period)
    if fmt == "csv":
        rows = (list({**d, "params": json.dumps(d["params"])}.values()) for d in docs)
        text = csv_text(DOCUMENT_COLUMNS, rows)
        return csv_response(text, f"depreciation-documents-{period}.csv")
    return JSONResponse(
        {"success": True, "period": str(period), "data": [_json_values(d) for d in docs]}
    )


def _json_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}


async def import_assets(request: Request) -> Response:
    """Upload a CSV (the raw body) and start an `asset_import` run for it."""
    svc, who = await caller(request)
    kind = svc.registry.get("asset_import")
    _, parsed = svc.registry.validate("asset_import", {"upload_id": 1, **_import_options(request)})
    text = _csv_text(await read_body(
        request, svc.settings.max_import_bytes, svc.settings.timeout_request_body_s
    ))  # fmt: skip
    upload_id = await save_upload(svc.business_sessions, who.tenant_id, request, text)
    params = parsed.model_copy(update={"upload_id": upload_id})
    async with _kept_only_if_started(svc, upload_id):
        return await start(svc, who, request, kind, params)


async def close_month(request: Request) -> Response:
    """Start the month-end close (admin: it locks the month): import the body's CSV when
    there is one, then the depreciation run, then the lock, as one batch."""
    svc, who = await caller(request)
    who.require_admin()
    period = period_from(request)
    options = _import_options(request)
    svc.registry.validate("asset_import", {"upload_id": 1, **options})  # 422 before the upload
    _flag(request, "allow_earlier_unposted")
    raw = await read_body(
        request, svc.settings.max_import_bytes, svc.settings.timeout_request_body_s
    )
    upload_id = None
    if raw.strip():
        upload_id = await save_upload(svc.business_sessions, who.tenant_id, request, _csv_text(raw))
    anyway = _flag(request, "allow_earlier_unposted")
    spec, kinds = checked_spec(close_spec(period, upload_id, options, anyway), svc.registry)
    async with _kept_only_if_started(svc, upload_id):
        return await start_batch(svc, who, request, spec, kinds, lock_key=close_lock_key(period))


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false")
    if raw not in ("true", "false"):
        raise ValidationFailed(
            f"'{name}' must be true or false.", fields=[{"field": name, "message": "true or false"}]
        )
    return raw == "true"


def _import_options(request: Request) -> dict[str, Any]:
    return {
        "chunk_size": query_int(request, "chunk_size", 500, 1, 10_000),
        "decimal": request.query_params.get("decimal", "auto"),
    }


def _csv_text(raw: bytes) -> str:
    """The upload as text, or 400/422 saying what is wrong with the file."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The file is not UTF-8 text.", code="invalid_csv") from None
    if "\0" in text:
        raise ValidationFailed(
            "The file contains NUL characters; save it as CSV text.", code="invalid_csv"
        )
    try:
        check_header(text)
    except CsvError as exc:
        raise ValidationFailed(str(exc), code="invalid_csv") from None
    return text


@asynccontextmanager
async def _kept_only_if_started(svc: Services, upload_id: int | None) -> AsyncIterator[None]:
    """An upload whose run was refused (409: another import is active, say) is deleted:
    nothing half-written stays."""
    try:
        yield
    except Exception:
        if upload_id is not None:
            async with svc.business_sessions.begin() as session:
                await session.execute(sa.delete(AssetUpload).where(AssetUpload.id == upload_id))
        raise


async def rejected_rows(request: Request) -> Response:
    """An import's refused rows as CSV (its file's separator), to fix and upload again."""
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    if run.kind != "asset_import":
        raise NotFound("No such import.", code="run_not_found")
    async with svc.business_sessions() as session:
        rows = await stored_rejections(session, run.id)
        upload = await session.get(AssetUpload, int(run.params.get("upload_id", 0)))
    text = upload.content if upload is not None and upload.tenant_id == who.tenant_id else None
    return csv_response(rejected_csv(layout_of(text), rows), f"rejected-{run.id}.csv")


async def save_upload(sessions: Any, tenant_id: str, request: Request, text: str) -> int:
    filename = request.query_params.get("filename", "")[:200]
    async with sessions.begin() as session:
        upload = AssetUpload(
            tenant_id=tenant_id, filename=filename, content=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(), created_at=utc_now(),
        )  # fmt: skip
        session.add(upload)
        await session.flush()
        return int(upload.id)


async def list_assets(request: Request) -> Response:
    svc, who = await caller(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    after = request.query_params.get("after_code") or ""
    async with svc.business_sessions() as session:
        rows = (
            (
                await session.execute(
                    sa.select(Asset)
                    .where(Asset.tenant_id == who.tenant_id, Asset.code > after)
                    .order_by(Asset.code)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    return JSONResponse({
        "success": True,
        "data": [asset_json(a) for a in rows],
        "next_after_code": rows[-1].code if len(rows) == limit else None,
    })  # fmt: skip


def asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "code": asset.code, "name": asset.name, "category": asset.category,
        "acquired_on": asset.acquired_on.isoformat(), "cost": str(asset.cost),
        "salvage": str(asset.salvage), "life_months": asset.life_months, "method": asset.method,
        "annual_rate": str(asset.annual_rate) if asset.annual_rate is not None else None,
        "tax_group": asset.tax_group,
        "disposed_on": asset.disposed_on.isoformat() if asset.disposed_on else None,
    }  # fmt: skip


def routes() -> list[Route]:
    return [
        Route("/api/periods", list_periods, methods=["GET"]),
        Route("/api/periods/{year:int}/{month:int}/lock", lock_period, methods=["POST"]),
        Route("/api/periods/{year:int}/{month:int}/unlock", unlock_period, methods=["POST"]),
        Route("/api/depreciation/{year:int}/{month:int}", depreciation_journal, methods=["GET"]),
        Route(
            "/api/depreciation/{year:int}/{month:int}/documents",
            depreciation_documents,
            methods=["GET"],
        ),
        Route("/api/assets", list_assets, methods=["GET"]),
        Route("/api/assets/import", import_assets, methods=["POST"]),
        Route("/api/close/{year:int}/{month:int}", close_month, methods=["POST"]),
        Route("/api/assets/imports/{run_id}/rejected.csv", rejected_rows, methods=["GET"]),
    ]
