"""Region import: the Hunan file, idempotence, any row order, re-parenting, and bad rows that write nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from admin_app.regions import RegionImportError, import_regions, read_regions_csv
from models import Region

REPO_ROOT = Path(__file__).resolve().parent.parent
HUNAN = REPO_ROOT / "tests" / "fixtures" / "regions-hunan.csv"  # 统计用区划代码 2023 of 湖南 (public domain)
HEADER = "code,name,level,parent_code\n"



def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(HEADER + text)))


def snapshot(db) -> list[tuple]:
    db.session.expire_all()
    return [(r.code, r.name, r.level, r.parent.code if r.parent else None, r.path, r.version)
            for r in db.session.scalars(select(Region).order_by(Region.code))]


def by_code(db, code: str) -> Region:
    return db.session.scalars(select(Region).where(Region.code == code)).one()


SMALL = """431300000000,娄底市,city,
431302000000,娄星区,county,431300000000
431302100000,杉山镇,township,431302000000
431302100201,杉山村,village,431302100000
431322000000,新化县,county,431300000000
"""


def test_hunan_file_imports_and_reimports_identically(db):
    rows = read_regions_csv(HUNAN)
    with open(HUNAN, encoding="utf-8") as fh:
        expected = sum(1 for _ in fh) - 1  # data lines after the header
    first = import_regions(db.session, rows)
    db.session.commit()
    assert (first.created, first.updated, first.unchanged) == (expected, 0, 0)
    before = snapshot(db)
    assert len(before) == expected == 2157
    shanshan = by_code(db, "431302100000")
    assert shanshan.name == "杉山镇"
    assert shanshan.path == "430000000000/431300000000/431302000000/431302100000/"
    loudi = by_code(db, "431300000000")
    under = db.session.scalars(select(Region).where(Region.path.like(loudi.path + "%"),
                                                    Region.level == "township")).all()
    assert len(under) == 89  # 娄底 has 89 township-level units
    # Every path is the parent's path plus the own code.
    regions = db.session.scalars(select(Region)).all()
    for region in regions:
        assert region.path == (region.parent.path if region.parent else "") + region.code + "/"

    second = import_regions(db.session, read_regions_csv(HUNAN))
    db.session.commit()
    assert (second.created, second.updated, second.unchanged) == (0, 0, expected)
    assert snapshot(db) == before


def test_children_before_parents_in_any_order(db):
    lines = SMALL.strip().splitlines()
    result = import_regions(db.session, rows_of("\n".join(reversed(lines)) + "\n"))
    db.session.commit()
    assert result.created == 5
    assert by_code(db, "431302100201").path == ("431300000000/431302000000/431302100000/431302100201/")
    assert by_code(db, "431302100201").parent.code == "431302100000"


def test_parent_may_come_from_the_database(db):
    import_regions(db.session, rows_of(SMALL))
    db.session.commit()
    result = import_regions(db.session, rows_of("431322116000,田坪镇,township,431322000000\n"))
    db.session.commit()
    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    assert by_code(db, "431322116000").path == "431300000000/431322000000/431322116000/"


def test_moving_a_region_repaths_its_descendants_and_renames(db):
    import_regions(db.session, rows_of(SMALL))
    db.session.commit()
    # 杉山镇 moves under 新化县 (and is renamed); its village is not in the file but must follow.
    result = import_regions(db.session, rows_of("431302100000,杉山镇(新),township,431322000000\n"))
    db.session.commit()
    assert (result.created, result.updated, result.unchanged, result.repathed) == (0, 1, 0, 1)
    town = by_code(db, "431302100000")
    assert town.name == "杉山镇(新)"
    assert town.parent.code == "431322000000"
    assert town.path == "431300000000/431322000000/431302100000/"
    assert by_code(db, "431302100201").path == "431300000000/431322000000/431302100000/431302100201/"
    assert by_code(db, "431302000000").path == "431300000000/431302000000/"


BAD_ROWS = {
    "unknown parent": ("431302100000,杉山镇,township,431399000000", "上级区划代码 431399000000"),
    "code too short": ("43130210000,杉山镇,township,431302000000", "应为 12 位数字"),
    "code not digits": ("43130210000X,杉山镇,township,431302000000", "应为 12 位数字"),
    "unknown level": ("431302100000,杉山镇,town,431302000000", "级别“town”无效"),
    "duplicate code": ("431302000000,娄星区,county,431300000000", "在文件中重复(第 3 行已有)"),
    "missing name": ("431302100000,  ,township,431302000000", "缺少名称"),
    "own parent": ("431302100000,杉山镇,township,431302100000", "不能以自己为上级"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_one_bad_row_writes_nothing_and_names_its_line(db, kind):
    import_regions(db.session, rows_of("431300000000,娄底市,city,\n"))
    db.session.commit()
    before = snapshot(db)
    bad, message = BAD_ROWS[kind]
    # Line 2 updates an existing row, line 3 adds a new one, line 4 is bad, line 5 is fine.
    text = ("431300000000,娄底市(改名),city,\n431302000000,娄星区,county,431300000000\n"
            f"{bad}\n431322000000,新化县,county,431300000000\n")
    with pytest.raises(RegionImportError) as info:
        import_regions(db.session, rows_of(text))
    db.session.rollback()
    assert info.value.line == 4
    assert str(info.value).startswith("第 4 行:")
    assert message in str(info.value)
    assert snapshot(db) == before


def test_a_cycle_is_refused(db):
    text = "431302000000,娄星区,county,431302100000\n431302100000,杉山镇,township,431302000000\n"
    with pytest.raises(RegionImportError) as info:
        import_regions(db.session, rows_of(text))
    db.session.rollback()
    assert "循环" in str(info.value)
    assert info.value.line in (2, 3)
    assert snapshot(db) == []


def test_missing_column_in_header(tmp_path, db):
    path = tmp_path / "r.csv"
    path.write_text("code,name,level\n431300000000,娄底市,city\n", encoding="utf-8")
    with pytest.raises(RegionImportError) as info:
        read_regions_csv(path)
    assert info.value.line == 1
    assert "parent_code" in str(info.value)


def test_line_numbers_count_blank_lines(tmp_path, db):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "431300000000,娄底市,city,\n\n\n431302000000,娄星区,county,431399000000\n",
                    encoding="utf-8")
    with pytest.raises(RegionImportError) as info:
        import_regions(db.session, read_regions_csv(path))
    assert info.value.line == 5


def test_a_file_not_in_utf8_is_refused_with_a_message(tmp_path, db):
    path = tmp_path / "r.csv"
    path.write_bytes((HEADER + SMALL).encode("gbk"))
    with pytest.raises(RegionImportError, match="UTF-8"):
        read_regions_csv(path)
    assert snapshot(db) == []


def test_cli_imports_a_file(app, db, tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text("\ufeff" + HEADER + SMALL, encoding="utf-8")  # a BOM from Excel is tolerated
    runner = app.test_cli_runner()
    result = runner.invoke(args=["regions", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "新增 5" in result.output
    assert len(snapshot(db)) == 5
    again = runner.invoke(args=["regions", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "新增 0" in again.output and "未变 5" in again.output


def test_cli_bad_file_exits_nonzero_and_writes_nothing(app, db, tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text(HEADER + SMALL + "431381000000,冷水江市,county,431399999999\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["regions", "import", str(path)])
    assert result.exit_code != 0
    assert "第 7 行" in result.output
    assert "未写入任何数据" in result.output
    assert snapshot(db) == []


def test_cli_imports_the_hunan_file(app, db):
    result = app.test_cli_runner().invoke(args=["regions", "import", str(HUNAN)])
    assert result.exit_code == 0, result.output
    assert "新增 2157" in result.output
    assert len(snapshot(db)) == 2157
