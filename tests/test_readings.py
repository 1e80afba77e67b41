"""Finding people: every reading of a name (surname readings, heteronyms), and sensitive fragments only
for those who may see them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import select, update

from models import Person, RolePermission, VeteranProfile
from models.people import INITIALS_MAX, MAX_READINGS, PINYIN_MAX, name_pinyin, name_readings

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "2026_11_27_0006_readings.py"


@pytest.mark.parametrize(("name", "typed"), [
    ("曾海燕", "zhy"), ("曾海燕", "zenghaiyan"), ("单雄信", "shanxiongxin"), ("解缙", "xiejin"),
    ("仇英", "qiuying"), ("区志强", "ouzhiqiang"), ("查良镛", "zhaliangyong"), ("覃军", "qinjun"),
    ("盖聂", "genie"), ("朴正", "piaozheng"), ("尉迟恭", "yuchigong"), ("长孙无忌", "zhangsunwuji"),
])
def test_a_surname_is_read_as_a_surname_first(name, typed):
    full, initials = name_pinyin(name)
    assert typed in (full if len(typed) > 4 else initials).split(" ")
    first = full.split(" ")[0]
    assert first == typed or initials.split(" ")[0] == typed  # the surname reading is the usual one


@pytest.mark.parametrize(("name", "also"), [
    ("曾海燕", "chy"),          # the everyday reading of 曾 is still found
    ("曾乐乐", "zyy"),          # 乐 le / yue, the same character read alike throughout
    ("李长春", "lzc"),          # 长 chang / zhang
    ("王重阳", "wzy"),          # 重 chong / zhong
])
def test_other_readings_are_kept(name, also):
    assert also in name_pinyin(name)[1].split(" ")


def test_plain_names_keep_one_reading():
    assert name_pinyin("周洪杰") == ("zhouhongjie", "zhj")
    assert name_pinyin("") == ("", "")
    assert name_pinyin("Alice") == ("", "")


def test_readings_are_bounded():
    # 40 characters, every one a heteronym: still at most MAX_READINGS, within the columns
    for name in ("乐长重行" * 10, "单" * 40, "庄" * 40):
        readings = name_readings(name)
        full, initials = name_pinyin(name)
        assert 1 <= len(readings) <= MAX_READINGS
        assert 0 < len(full) <= PINYIN_MAX and 0 < len(initials) <= INITIALS_MAX
    assert Person.__table__.c.name_pinyin.type.length == PINYIN_MAX
    assert Person.__table__.c.name_initials.type.length == INITIALS_MAX


def _links_to(page: str, ident: int) -> bool:
    return re.search(rf'details/\?[^"]*\bid={ident}"', page) is not None


@pytest.fixture()
def people(db, world):
    zeng = Person(name="曾海燕", region=world.shanshan, id_number="431302199001010018", phone="13812345678")
    other = Person(name="曾海燕", region=world.dake)  # the same name in another township
    shan = Person(name="单雄信", region=world.village)
    db.session.add_all([zeng, other, shan])
    db.session.flush()
    db.session.add(VeteranProfile(person=zeng))
    db.session.commit()
    return zeng, other, shan


def _search(client, term, screen="person"):
    return client.get(f"/admin/{screen}/", query_string={"search": term}).get_data(as_text=True)


def test_clerk_finds_a_person_by_any_reading_within_the_township(client, login, people):
    zeng, other, shan = people
    login("shanshan")
    for term in ("zhy", "chy", "zenghai", "海燕", "ZHY"):
        page = _search(client, term)
        assert _links_to(page, zeng.id), term
        assert not _links_to(page, other.id), term  # the same name in 大科街道 stays out of reach
    assert _links_to(_search(client, "sxx"), shan.id)
    assert _links_to(_search(client, "zhy", "veteran_profile"), zeng.veteran_profile.id)
    # the space between readings keeps a search from matching across two of them
    assert not _links_to(_search(client, "yanceng"), zeng.id)
    login("dake")
    page = _search(client, "zhy")
    assert _links_to(page, other.id) and not _links_to(page, zeng.id)


def test_id_number_and_phone_fragments_only_with_the_right(client, login, db, people):
    zeng, other, _shan = people
    login("shanshan")  # clerks may see sensitive data by default
    for term in ("19900101", "0018", "431302199001010018", "1234567", "5678"):
        assert _links_to(_search(client, term), zeng.id), term
    assert not _links_to(_search(client, "18"), zeng.id)  # too short to mean anything
    login("dake")  # another township: never, whatever the fragment
    assert not _links_to(_search(client, "0018"), zeng.id)

    db.session.add(RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False))
    db.session.commit()
    login("shanshan")
    for term in ("19900101", "0018", "431302199001010018", "1234567", "5678"):
        page = _search(client, term)
        assert not _links_to(page, zeng.id), term
    assert _links_to(_search(client, "zhy"), zeng.id)  # names still find


def _run_migration(db, step: str) -> None:
    spec = importlib.util.spec_from_file_location("readings_0006", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.revision, module.down_revision) == ("0006", "0005")
    connection = db.session.connection()
    with Operations.context(MigrationContext.configure(connection)):
        getattr(module, step)()
    db.session.commit()


def test_migration_recomputes_stored_readings(db, people):
    zeng, _other, shan = people
    # rows as the earlier version stored them: one reading, 曾 read as "ceng"
    db.session.execute(update(Person).where(Person.id == zeng.id)
                       .values(name_pinyin="cenghaiyan", name_initials="chy"))
    db.session.execute(update(Person).where(Person.id == shan.id)
                       .values(name_pinyin="danxiongxin", name_initials="dxx"))
    db.session.commit()
    _run_migration(db, "upgrade")
    stored = dict(db.session.execute(select(Person.id, Person.name_initials)).all())
    assert stored[zeng.id] == name_pinyin("曾海燕")[1] and "zhy" in stored[zeng.id].split(" ")
    assert stored[shan.id] == name_pinyin("单雄信")[1]
    _run_migration(db, "downgrade")
    stored = dict(db.session.execute(select(Person.id, Person.name_initials)).all())
    assert stored[zeng.id] == "zhy" and stored[shan.id] == "sxx"
