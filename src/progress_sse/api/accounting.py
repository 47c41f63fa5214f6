"""Routes of the accounting domain: periods, the depreciation journal, asset import."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.api.body import query_int, read_body
from progress_sse.api.runs import caller, start
from progress_sse.errors import BadRequest, ValidationFailed
from progress_sse.events import iso, utc_now
from progress_sse.jobs.asset_import.models import AssetUpload
from progress_sse.jobs.asset_import.parse import CsvError, check_header
from progress_sse.jobs.depreciation import periods
from progress_sse.jobs.depreciation.journal import JOURNAL_COLUMNS, journal
from progress_sse.jobs.depreciation.models import Asset
from progress_sse.jobs.depreciation.periods import Period


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
    svc, who = await caller(request)
    who.require_admin()
    period = period_from(request)
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


async def depreciation_journal(request: Request) -> Response:
    """The period's entries with totals, as JSON or `?format=csv` (amounts as exact text)."""
    svc, who = await caller(request)
    period = period_from(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed(
            "'format' must be json or csv.", fields=[{"field": "format", "message": "json or csv"}]
        )
    async with svc.business_sessions() as session:
        entries, total = await journal(session, who.tenant_id, period)
    if fmt == "csv":
        return journal_csv(period, entries, total)
    data = [{k: str(v) if isinstance(v, Decimal) else v for k, v in e.items()} for e in entries]
    return JSONResponse({
        "success": True,
        "period": str(period),
        "document_no": entries[0]["document_no"] if entries else None,
        "totals": {"entries": len(entries), "amount": str(total)},
        "data": data,
    })  # fmt: skip


def journal_csv(period: Period, entries: Sequence[dict[str, Any]], total: Decimal) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(JOURNAL_COLUMNS)
    for entry in entries:
        writer.writerow([_cell(entry[c]) for c in JOURNAL_COLUMNS])
    writer.writerow(["TOTAL", "", "", "", period.year, period.month, str(total), "", "", ""])
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="depreciation-{period}.csv"'},
    )


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading quote (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def import_assets(request: Request) -> Response:
    """Upload a CSV (the raw body) and start an `asset_import` run for it."""
    svc, who = await caller(request)
    kind = svc.registry.get("asset_import")
    _, parsed = svc.registry.validate(
        "asset_import",
        {"upload_id": 1, "chunk_size": query_int(request, "chunk_size", 500, 1, 10_000)},
    )
    raw = await read_body(request, svc.settings.max_import_bytes)
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
    upload_id = await save_upload(svc.business_sessions, who.tenant_id, request, text)
    params = parsed.model_copy(update={"upload_id": upload_id})
    try:
        return await start(svc, who, request, kind, params)
    except Exception:  # e.g. 409: another import is active; keep nothing half-written
        async with svc.business_sessions.begin() as session:
            await session.execute(sa.delete(AssetUpload).where(AssetUpload.id == upload_id))
        raise


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
        Route("/api/assets", list_assets, methods=["GET"]),
        Route("/api/assets/import", import_assets, methods=["POST"]),
    ]
