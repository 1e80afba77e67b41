"""Excel/CSV import: the same rules as the form, all rows or none, and an error report."""

import io
import re

import openpyxl

from models import Person


def _xlsx(rows) -> io.BytesIO:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


HEADER = ["姓名", "公民身份号码", "所属乡镇/村", "政治面貌", "联系电话"]


def test_clerk_imports_people(client, world, login, db):
    login("shanshan")
    rows = [HEADER, ["周洪杰", "431302199001010018", "杉山镇", "中共党员", "13800000001"],
            ["李春梅", "", "杉山村", "群众", ""]]
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code == 200, rv.get_data(as_text=True)[-2000:]
    assert db.session.query(Person).count() == 0  # a preview first (tests/test_spreadsheets.py)
    token = re.search(r'name="token" value="([^"]+)"', rv.get_data(as_text=True)).group(1)
    rv = client.post("/admin/person/import/confirm/", data={"token": token}, follow_redirects=True)
    assert "已导入 2 条记录" in rv.get_data(as_text=True)
    zhou = db.session.query(Person).filter_by(name="周洪杰").one()
    assert zhou.political_status == "cpc" and zhou.gender == "male" and zhou.region_id == world.shanshan.id
    assert str(zhou.birth_date) == "1990-01-01"


def test_one_bad_row_writes_nothing_and_reports_every_problem(client, world, login, db):
    login("shanshan")
    rows = [HEADER,
            ["周洪杰", "431302199001010018", "杉山镇", "中共党员", ""],
            ["王五", "431302199001010019", "杉山镇", "群众", ""],       # bad check digit
            ["赵六", "", "田坪镇", "群众", ""],                         # another county's township
            ["钱七", "", "杉山镇", "无党派人士", ""],                   # not a choice
            ["孙八", "431302199001010018", "杉山镇", "群众", ""]]       # duplicate of row 2
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code == 422
    page = rv.get_data(as_text=True)
    assert "未导入任何数据" in page
    for line, message in ((3, "公民身份号码校验位错误"), (4, "找不到“田坪镇”"), (5, "“无党派人士”不是可选值")):
        assert f"<td>{line}</td>" in page and message in page, (line, message)
    assert "<td>6</td><td>公民身份号码</td>" in page  # row 6 repeats row 2's ID number
    assert db.session.query(Person).count() == 0

    report = client.post("/admin/person/import/report.xlsx",
                         data={"errors": '[{"line": 3, "column": "公民身份号码", "value": "=1+1", '
                                         '"message": "公民身份号码校验位错误"}]'})
    assert report.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(report.data)).active
    assert [c.value for c in sheet[2]] == ["3", "公民身份号码", "'=1+1", "公民身份号码校验位错误"]


def test_bad_files_are_refused_clearly(client, world, login, db):
    login("shanshan")
    for payload, name, message in [(b"not a zip", "x.xlsx", "无法读取该文件"),
                                   (b"hello", "x.txt", "只能导入"),
                                   ("姓名,不存在的列\n张三,1\n".encode(), "x.csv", "不是本表的字段")]:
        rv = client.post("/admin/person/import/", data={"file": (io.BytesIO(payload), name)},
                         content_type="multipart/form-data")
        assert rv.status_code == 400
        assert message in rv.get_data(as_text=True)
    assert db.session.query(Person).count() == 0


def test_list_offers_import_only_to_those_who_may_create(client, world, login):
    login("shanshan")
    assert "/admin/person/import/" in client.get("/admin/person/").get_data(as_text=True)
    login("viewer")
    assert "/admin/person/import/" not in client.get("/admin/person/").get_data(as_text=True)


def test_viewer_cannot_import(client, world, login, db):
    login("viewer")
    rows = [HEADER, ["周洪杰", "", "杉山镇", "群众", ""]]
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "p.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code == 404
    assert client.get("/admin/person/import/template.xlsx").status_code == 404
    assert db.session.query(Person).count() == 0


def test_template_lists_the_form_fields(client, world, login):
    login("shanshan")
    rv = client.get("/admin/person/import/template.xlsx")
    header = [c.value for c in openpyxl.load_workbook(io.BytesIO(rv.data)).active[1]]
    assert header[:3] == ["姓名", "公民身份号码", "性别"]
    assert "所属乡镇/村" in header


# -- a whole file checked in a few reads (views/importer.py): the same rules as one form per row -------
def _id_number(i: int) -> str:
    from stdnum.cn import ric

    body = f"43130219900101{i:03d}"
    return body + ric.calc_check_digit(body + "0")


def test_an_id_number_taken_outside_the_scope_is_refused_and_nothing_is_written(client, world, login, db):
    taken = _id_number(7)
    db.session.add(Person(name="田坪人", id_number=taken, region=world.tianping))
    db.session.commit()
    login("shanshan")
    rows = [HEADER, ["周一", _id_number(1), "杉山镇", "群众", ""], ["周七", taken, "杉山镇", "群众", ""],
            ["周八", _id_number(8), "杉山镇", "群众", ""], ["周八重", _id_number(8), "杉山镇", "群众", ""]]
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code == 422
    page = rv.get_data(as_text=True)
    assert re.search(r"<td>3</td>\s*<td>公民身份号码</td>", page), page[-3000:]  # held by a row out of scope
    assert re.search(r"<td>5</td>\s*<td>公民身份号码</td>", page)  # repeats row 4
    assert not re.search(r"<td>(2|4)</td>\s*<td>公民身份号码</td>", page)
    db.session.expire_all()
    assert db.session.query(Person).count() == 1
    assert db.session.query(Person).filter_by(id_number=taken).one().name == "田坪人"


def test_a_long_file_reads_regions_and_taken_values_a_fixed_number_of_times(client, world, login, db, app):
    """The region drop-down and the uniqueness checks are read once per file, not once per row."""
    from sqlalchemy import event

    from admin_app.extensions import db as _db

    def selects_for(count: int) -> int:
        rows = [HEADER] + [[f"李{i}", _id_number(100 + i), "杉山镇", "群众", ""] for i in range(count)]
        seen = []

        def count_selects(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT") and "FROM region" in statement:
                seen.append(statement)

        event.listen(_db.engine, "before_cursor_execute", count_selects)
        try:
            rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                             content_type="multipart/form-data")
        finally:
            event.remove(_db.engine, "before_cursor_execute", count_selects)
        assert rv.status_code == 200, rv.get_data(as_text=True)[-2000:]
        return len(seen)

    login("shanshan")
    assert selects_for(40) == selects_for(4)


# -- the preview checks, the confirmation writes what the preview checked (views/importer.py) ----------
def test_the_preview_stops_each_flush_after_the_gates_checks(world, db):
    """``gate_checks_only``: the write gate still refuses (its listener runs first); a flush it lets
    through stops before any SQL."""
    import pytest

    from admin_app.gate import WriteRefused
    from views.importer import _ChecksPassed, gate_checks_only

    session = db.session
    session.add(Person(name="坏号码", id_number="431302199001010019", region=world.shanshan))
    with pytest.raises(WriteRefused), gate_checks_only(session()):
        session.flush()
    session.rollback()
    session.add(Person(name="好人", id_number=_id_number(5), region=world.shanshan))
    with pytest.raises(_ChecksPassed), gate_checks_only(session()):
        other = session.session_factory()  # another request's session is not stopped
        other.add(Person(name="别人", region_id=world.shanshan.id))
        other.flush()
        assert other.query(Person).count() == 1
        other.rollback()
        other.close()
        session.flush()
    session.rollback()
    assert session.query(Person).count() == 0
    with pytest.raises(TypeError):  # never the scoped session: its listener would join the factory
        gate_checks_only(session).__enter__()


def _preview(client, rows):
    rv = client.post("/admin/person/import/", data={"file": (_xlsx(rows), "people.xlsx")},
                     content_type="multipart/form-data")
    assert rv.status_code == 200, rv.get_data(as_text=True)[-2000:]
    return re.search(r'name="token" value="([^"]+)"', rv.get_data(as_text=True)).group(1)


def test_the_confirmation_writes_the_previewed_rows_without_checking_the_forms_again(
        client, world, login, db, monkeypatch):
    from admin_app.extensions import db as _db
    from models import AuditLog

    login("shanshan")
    token = _preview(client, [HEADER] + [[f"王{i}", _id_number(200 + i), "杉山镇", "群众", ""] for i in range(30)])
    from wtforms.form import BaseForm

    validated = []
    real = BaseForm.validate
    monkeypatch.setattr(BaseForm, "validate", lambda self, *a, **k: validated.append(1) or real(self, *a, **k))
    rv = client.post("/admin/person/import/confirm/", data={"token": token})
    assert rv.status_code == 302 and validated == []
    _db.session.expire_all()
    assert db.session.query(Person).count() == 30
    assert db.session.query(AuditLog).filter_by(table_name="person").count() == 30  # through the gate


def test_a_confirmation_after_the_data_changed_checks_the_file_again(client, world, login, db):
    """A row the preview would update was edited meanwhile, and a row it would insert now exists: the
    plan is stale, so the file is checked again and written as it is now (updates, not duplicates)."""
    from admin_app.extensions import db as _db

    zhou = Person(name="周洪杰", id_number=_id_number(1), region=world.shanshan, phone="13800000001")
    db.session.add(zhou)
    db.session.commit()
    login("shanshan")
    token = _preview(client, [HEADER, ["周洪杰", _id_number(1), "杉山镇", "中共党员", ""],
                              ["李新", _id_number(2), "杉山镇", "群众", ""]])
    with db.session.begin_nested():
        _db.session.get(Person, zhou.id).phone = "13900000009"  # edited after the preview
        db.session.add(Person(name="李新", id_number=_id_number(2), region=world.shanshan))
    db.session.commit()
    rv = client.post("/admin/person/import/confirm/", data={"token": token}, follow_redirects=True)
    assert "已导入 2 条记录(新增 0 条,更新 2 条)" in rv.get_data(as_text=True)
    _db.session.expire_all()
    assert db.session.query(Person).count() == 2
    zhou = _db.session.get(Person, zhou.id)
    assert zhou.political_status == "cpc" and zhou.phone == "13900000009"
