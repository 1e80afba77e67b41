"""Spreadsheets as clerks have them: GBK CSV, preview before the write, Chinese file names, 是/否, the
official region file on the region screen."""

from __future__ import annotations

import csv
import datetime
import io
import re
from urllib.parse import unquote

from sqlalchemy import select

from models import AuditLog, Person, Region, RolePermission, VeteranProfile
from tests.conftest import count_rows

HEADER = "姓名,公民身份号码,所属乡镇/村,政治面貌,联系电话\n"


def upload(client, endpoint: str, payload: bytes, name: str = "people.csv"):
    return client.post(f"/admin/{endpoint}/import/", data={"file": (io.BytesIO(payload), name)},
                       content_type="multipart/form-data")


def token_of(rv) -> str | None:
    found = re.search(r'name="token" value="([^"]+)"', rv.get_data(as_text=True))
    return found.group(1) if found else None


def confirm(client, endpoint: str, token: str | None):
    return client.post(f"/admin/{endpoint}/import/confirm/", data={"token": token or ""})


def preview_and_confirm(client, endpoint: str, payload: bytes, name: str):
    """Upload, check the preview offers the confirmation, confirm; returns the confirmation response."""
    rv = upload(client, endpoint, payload, name)
    assert rv.status_code == 200, rv.get_data(as_text=True)[-1500:]
    return confirm(client, endpoint, token_of(rv))


def test_gbk_csv_from_chinese_excel_is_previewed_then_written(client, world, login, db):
    login("shanshan")
    text = HEADER + "曾海燕,431302199001010018,杉山镇,中共党员,13800000001\n李春梅,,杉山村,群众,\n"
    audited = count_rows(AuditLog)
    rv = upload(client, "person", text.encode("gbk"))
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200, page[-1500:]
    assert "将新增 2 条,更新 0 条" in page and "尚未写入任何数据" in page
    assert "曾海燕" in page  # the preview lists the rows, decoded
    assert count_rows(Person) == 0 and count_rows(AuditLog) == audited  # nothing written, nothing audited
    token = token_of(rv)
    rv = confirm(client, "person", token)
    assert rv.status_code == 302
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Person.name))) == ["曾海燕", "李春梅"]
    assert count_rows(AuditLog) == audited + 2  # the confirmed write went through the gate
    assert confirm(client, "person", token).status_code == 400  # a token is used once
    assert count_rows(Person) == 2


def test_utf8_with_bom_and_gb18030_are_both_read(client, world, login, db):
    login("shanshan")
    for payload in ((HEADER + "周洪杰,,杉山镇,群众,\n").encode("utf-8-sig"),
                    (HEADER + "𠀀周,,杉山镇,群众,\n").encode("gb18030")):  # beyond GBK: a 4-byte character
        rv = upload(client, "person", payload)
        assert rv.status_code == 200 and "将新增 1 条" in rv.get_data(as_text=True)
    rv = upload(client, "person", b"\xff\xfe\x00\x81\x30")  # neither encoding
    assert rv.status_code == 400 and "无法读取该文件" in rv.get_data(as_text=True)
    assert count_rows(Person) == 0


def test_preview_shows_updates_by_id_number_and_writes_nothing(client, world, login, db):
    db.session.add(Person(name="曾海燕", region=world.shanshan, id_number="431302199001010018",
                          phone="13800000001", political_status="masses"))
    db.session.commit()
    login("shanshan")
    text = HEADER + "曾海燕,431302199001010018,杉山镇,中共党员,\n新人员,,杉山镇,群众,\n"
    rv = upload(client, "person", text.encode("gbk"))
    page = rv.get_data(as_text=True)
    assert "将新增 1 条,更新 1 条" in page and 'data-status="update"' in page and "政治面貌" in page
    db.session.expire_all()
    person = db.session.scalars(select(Person).where(Person.name == "曾海燕")).one()
    assert person.political_status == "masses" and count_rows(Person) == 1
    assert confirm(client, "person", token_of(rv)).status_code == 302
    db.session.expire_all()
    person = db.session.get(Person, person.id)
    assert person.political_status == "cpc"
    assert person.phone == "13800000001"  # an empty cell keeps the stored value
    assert count_rows(Person) == 2


def test_without_the_sensitive_right_an_id_number_never_names_an_existing_row(client, world, login, db):
    db.session.add_all([Person(name="曾海燕", region=world.shanshan, id_number="431302199001010018"),
                        RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False)])
    db.session.commit()
    login("shanshan")
    rv = upload(client, "person", (HEADER + "某人,431302199001010018,杉山镇,群众,\n").encode())
    assert rv.status_code == 422 and token_of(rv) is None  # refused as a duplicate, not shown as an update
    assert "更新 1 条" not in rv.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Person.name)).all() == ["曾海燕"]


def test_another_townships_row_is_never_updated(client, world, login, db):
    db.session.add(Person(name="田坪人员", region=world.tianping, id_number="431302199001010018"))
    db.session.commit()
    login("shanshan")
    rv = upload(client, "person", (HEADER + "改名,431302199001010018,杉山镇,群众,\n").encode())
    assert rv.status_code == 422 and token_of(rv) is None
    db.session.expire_all()
    assert db.session.scalars(select(Person.name)).all() == ["田坪人员"]


def test_errors_in_the_preview_offer_no_confirmation(client, world, login, db):
    login("shanshan")
    rv = upload(client, "person", (HEADER + "赵六,,田坪镇,群众,\n").encode("gbk"))
    page = rv.get_data(as_text=True)
    assert rv.status_code == 422 and "找不到“田坪镇”" in page and token_of(rv) is None
    assert count_rows(Person) == 0


def test_a_token_serves_only_its_owner_and_its_screen(client, world, login, db):
    login("shanshan")
    token = token_of(upload(client, "person", (HEADER + "周洪杰,,杉山镇,群众,\n").encode()))
    assert token
    login("dake")  # another clerk cannot write shanshan's upload
    assert confirm(client, "person", token).status_code == 400
    login("viewer")
    assert confirm(client, "person", token).status_code == 404
    login("shanshan")
    assert confirm(client, "room", token).status_code == 400  # another screen
    for forged in ("../../etc/passwd", "x" * 10, ""):
        assert confirm(client, "person", forged).status_code == 400
    assert count_rows(Person) == 0
    assert confirm(client, "person", token).status_code == 302  # still there for its owner
    assert count_rows(Person) == 1


def _disposition_name(rv) -> str:
    header = rv.headers["Content-Disposition"]
    assert header.startswith("attachment;")
    return unquote(re.search(r"filename\*=UTF-8''(\S+)", header).group(1))


def test_export_csv_for_excel(client, world, login, db):
    person = Person(name="曾海燕", region=world.shanshan)
    db.session.add(person)
    db.session.flush()
    db.session.add(VeteranProfile(person=person, honor_plaque=True))
    db.session.add(VeteranProfile(person=Person(name="李春梅", region=world.shanshan), honor_plaque=False))
    db.session.commit()
    today = datetime.date.today().isoformat()
    login("shanshan")
    rv = client.get("/admin/veteran_profile/export/csv/")
    assert rv.status_code == 200
    assert rv.data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert _disposition_name(rv) == f"退役军人-杉山镇-{today}.csv"
    assert 'filename="' in rv.headers["Content-Disposition"]  # an ASCII fallback for old clients
    rows = list(csv.reader(io.StringIO(rv.data.decode("utf-8-sig"))))
    column = rows[0].index("是否悬挂光荣牌")
    assert sorted(r[column] for r in rows[1:]) == ["否", "是"]
    rv = client.get("/admin/veteran_profile/export/xlsx/")
    assert _disposition_name(rv) == f"退役军人-杉山镇-{today}.xlsx"
    login("louxing")  # one county
    assert _disposition_name(client.get("/admin/person/export/csv/")) == f"人员-娄星区-{today}.csv"
    login("city")  # the whole city: no region in the name
    assert _disposition_name(client.get("/admin/person/export/csv/")) == f"人员-{today}.csv"


REGIONS = "code,name,level,parent_code\n"


def test_region_screen_accepts_the_official_file(client, world, login, db):
    login("city")
    text = (REGIONS + "431302100202,杉山新村,village,431302100000\n"
            "431302100000,杉山镇(新),township,431302000000\n"
            "431302005000,大科街道,township,431302000000\n")
    rv = upload(client, "region", text.encode("gbk"), "regions.csv")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200, page[-1500:]
    assert "将新增 1 条,更新 1 条,无变化 1 条" in page
    assert db.session.scalar(select(Region.id).where(Region.code == "431302100202")) is None
    assert confirm(client, "region", token_of(rv)).status_code == 302
    db.session.expire_all()
    village = db.session.scalars(select(Region).where(Region.code == "431302100202")).one()
    assert village.parent_id == world.shanshan.id and village.path == world.shanshan.path + "431302100202/"
    assert db.session.get(Region, world.shanshan.id).name == "杉山镇(新)"


def test_region_import_needs_the_right_and_a_bad_row_writes_nothing(client, world, login, db):
    before = count_rows(Region)
    row = REGIONS + "431302100204,新村,village,431302100000\n"
    for user in ("shanshan", "louxing", "viewer"):  # regions are the city's reference data
        login(user)
        assert upload(client, "region", row.encode(), "r.csv").status_code == 404
        assert confirm(client, "region", "x" * 43).status_code == 404
    login("city")
    bad = row + "431302100205,坏行,hamlet,431302100000\n"
    rv = upload(client, "region", bad.encode(), "r.csv")
    assert rv.status_code == 422 and "级别“hamlet”无效" in rv.get_data(as_text=True) and token_of(rv) is None
    orphan = REGIONS + "431399100206,孤村,village,431399100000\n"
    rv = upload(client, "region", orphan.encode(), "r.csv")
    assert rv.status_code == 422 and "都不存在" in rv.get_data(as_text=True)
    assert count_rows(Region) == before
