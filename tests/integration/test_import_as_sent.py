"""Registers as people send them: `;` and decimal commas, refused rows to fix, posted history.

Amounts are checked against the text of the file, digit for digit, on both
databases (a rate of 0,125 must come back as 0.125000, not 0.13).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from progress_sse.settings import Settings
from tests.support import collect, run_server

INDONESIAN = (
    "code;name;category;acquired_on;cost;salvage;method;tax_group;annual_rate;life_months\r\n"
    "KND-01;Truk Hino;Kendaraan;15/01/2026;1.234.567.890,12;;straight_line;2;;\r\n"
    "MSN-01;Mesin bubut;Mesin;2026-02-01;987.654,30;0;declining_balance;3;;\r\n"
    "FRN-01;Meja rapat;Furnitur;01/03/2026;12.500.000,00;1.250.000,00;declining_balance;;0,125;"
    "96\r\n"
    "BAD-01;Kursi;Furnitur;2026-01-01;0;;straight_line;1;;\r\n"
    "BAD-02;Lemari;Furnitur;2026-01-01;5.000.000,00;500.000,00;straight_line;2;;\r\n"
    ";Tanpa kode;Furnitur;2026-01-01;1.000,00;;straight_line;1;;\r\n"
)


async def import_text(
    client: httpx.AsyncClient, text: str, query: str = ""
) -> tuple[str, dict[str, Any]]:
    response = await client.post(f"/api/assets/import?{query}", content=text.encode())
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    frames = await collect(client, f"/api/runs/{run_id}/events")
    assert frames[-2].event == "complete", frames[-2].data
    return run_id, frames[-2].data["result"]


async def register(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in (await client.get("/api/assets")).json()["data"]}


async def test_a_semicolon_file_with_decimal_commas_imports_exactly(settings: Settings) -> None:
    async with run_server(settings) as srv, srv.client() as client:
        run_id, result = await import_text(client, INDONESIAN)
        assets = await register(client)
        rejected = await client.get(result["rejected_url"])
    assert (result["separator"], result["decimal"]) == (";", "comma")
    assert assets["KND-01"]["cost"] == "1234567890.12"
    assert assets["KND-01"]["acquired_on"] == "2026-01-15", "day first, as Indonesian files are"
    assert assets["MSN-01"]["cost"] == "987654.30"
    assert assets["FRN-01"]["annual_rate"] == "0.125000", "never rounded to 0.13"
    assert assets["FRN-01"]["salvage"] == "1250000.00"
    assert assets["KND-01"]["annual_rate"] == "0.125000", "tax group 2's straight-line rate"
    refused = {b["line"]: b for b in result["bad_rows"]}
    assert set(refused) == {5, 6, 7}
    assert refused[5]["code"] == "BAD-01" and "cost must be more than 0" in refused[5]["reason"]
    assert refused[6]["code"] == "BAD-02" and "salvage" in refused[6]["reason"]
    assert "tax group" in refused[6]["reason"]
    assert refused[7]["code"] is None and "code" in refused[7]["reason"]
    assert rejected.status_code == 200 and rejected.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(rejected.text), delimiter=";"))
    assert rows[0][:3] == ["line", "reason", "code"]
    assert [r[0] for r in rows[1:]] == ["5", "6", "7"]
    assert rows[2][2:6] == ["BAD-02", "Lemari", "Furnitur", "2026-01-01"]
    assert run_id in rejected.headers["content-disposition"]


async def test_the_rejected_rows_go_back_in_once_fixed(settings: Settings) -> None:
    async with run_server(settings) as srv, srv.client() as client:
        _, first = await import_text(client, INDONESIAN)
        text = (await client.get(first["rejected_url"])).text
        fixed = text.replace(";0;;straight_line;1", ";2.500.000,00;;straight_line;1")
        fixed = fixed.replace("500.000,00;straight_line;2", ";straight_line;2")
        fixed = fixed.replace("\r\n7;", "\r\n7;").replace(";;Tanpa kode", ";NEW-01;Tanpa kode")
        _, second = await import_text(client, fixed, "decimal=comma")
        assets = await register(client)
    assert second["bad_row_count"] == 0, second["bad_rows"]
    assert second["records_processed"] == 3
    assert assets["BAD-01"]["cost"] == "2500000.00" and assets["BAD-02"]["salvage"] == "0.00"
    assert assets["NEW-01"]["cost"] == "1000.00"


async def test_an_amount_that_could_mean_two_things_is_refused_not_guessed(
    settings: Settings,
) -> None:
    # No cell of this ;-file proves which mark it uses: 1.234 could be 1234 or 1.234.
    text = (
        "code;name;acquired_on;cost;method;life_months\n"
        "A-1;Kursi;2026-01-01;1.234;straight_line;12\n"
        "A-2;Meja;2026-01-01;1500;straight_line;12\n"
    )
    async with run_server(settings) as srv, srv.client() as client:
        _, auto = await import_text(client, text)
        _, told = await import_text(client, text, "decimal=comma")
        assets = await register(client)
    [refused] = auto["bad_rows"]
    assert refused["line"] == 2 and refused["code"] == "A-1"
    assert "1234" in refused["reason"] and "1.234" in refused["reason"]
    assert told["bad_row_count"] == 0
    assert assets["A-1"]["cost"] == "1234.00", "decimal=comma says '.' groups thousands"


async def test_a_bad_decimal_choice_is_422(settings: Settings) -> None:
    async with run_server(settings) as srv, srv.client() as client:
        response = await client.post("/api/assets/import?decimal=guess", content=b"code\n")
    assert response.status_code == 422
    assert "params.decimal" in [f["field"] for f in response.json()["error"]["fields"]]


async def test_posted_history_cannot_be_changed_by_a_reimport(settings: Settings) -> None:
    original = (
        "code,name,category,acquired_on,cost,method,life_months\n"
        "P-1,Forklift,Alat,2026-01-01,1200.00,straight_line,12\n"
        "P-2,Genset,Alat,2026-01-01,2400.00,straight_line,24\n"
    )
    changed = (
        "code,name,category,acquired_on,cost,method,life_months\n"
        "P-1,Forklift listrik,Alat berat,2026-01-01,1200.00,straight_line,12\n"
        "P-2,Genset,Alat,2025-12-01,2600.00,straight_line,24\n"
    )
    async with run_server(settings) as srv, srv.client() as client:
        await import_text(client, original)
        for month in (1, 2):
            response = await client.post("/api/runs", json={
                "kind": "asset_depreciation", "params": {"year": 2026, "month": month},
            })  # fmt: skip
            await collect(client, response.json()["events_url"])
        run_id, result = await import_text(client, changed)
        assets = await register(client)
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    assert result["records_processed"] == 1 and result["bad_row_count"] == 1
    [refused] = result["bad_rows"]
    assert refused["code"] == "P-2" and refused["line"] == 3
    reason = refused["reason"]
    assert reason.startswith("asset P-2 has posted depreciation through 2026-02;")
    assert "cost (2400.00 → 2600.00)" in reason
    assert "acquisition date (2026-01-01 → 2025-12-01)" in reason
    assert (assets["P-2"]["cost"], assets["P-2"]["acquired_on"]) == ("2400.00", "2026-01-01")
    assert (assets["P-1"]["name"], assets["P-1"]["category"]) == ("Forklift listrik", "Alat berat")
    assert any("Line 3 (P-2) refused: asset P-2" in e["data"]["message"] for e in log)


async def test_a_disposal_before_the_last_posted_month_is_refused(settings: Settings) -> None:
    header = "code,name,acquired_on,cost,method,life_months,disposed_on\n"
    async with run_server(settings) as srv, srv.client() as client:
        await import_text(client, header + "D-1,Printer,2026-01-01,1200.00,straight_line,12,\n")
        for month in (1, 2, 3):
            response = await client.post("/api/runs", json={
                "kind": "asset_depreciation", "params": {"year": 2026, "month": month},
            })  # fmt: skip
            await collect(client, response.json()["events_url"])
        _, early = await import_text(
            client, header + "D-1,Printer,2026-01-01,1200.00,straight_line,12,2026-02-10\n"
        )
        _, later = await import_text(
            client, header + "D-1,Printer,2026-01-01,1200.00,straight_line,12,2026-03-31\n"
        )
    reason = early["bad_rows"][0]["reason"]
    assert (
        "disposal date (none → 2026-02-10, which changes months posted through 2026-03)" in reason
    )
    assert later["bad_row_count"] == 0, "disposing in the last posted month changes nothing"


async def test_a_rejected_csv_of_another_tenants_import_is_404(settings: Settings) -> None:
    async with run_server(settings) as srv, srv.client() as acme, srv.client("globex") as globex:
        run_id, result = await import_text(acme, INDONESIAN)
        theirs = await globex.get(result["rejected_url"])
        missing = await acme.get("/api/assets/imports/nope/rejected.csv")
    assert theirs.status_code == 404 and missing.status_code == 404
    assert run_id not in theirs.text
