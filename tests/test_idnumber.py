"""公民身份号码: checksum and birth date are hard rules, the area code only warns; the person form derives
birth date and gender and refuses a duplicate next to the field."""

from __future__ import annotations

import datetime
import re

import pytest
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from models import Person
from models.idnumber import IdNumberError, mask_id_number, parse_id_number


def make_number(area: str, birth: str, seq: int) -> str:
    """A number with the correct ISO 7064 MOD 11-2 check character."""
    body = f"{area}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def with_bad_check(number: str) -> str:
    options = "0123456789X"
    return number[:17] + options[(options.index(number[17]) + 1) % len(options)]


def number_ending_in_x(area: str = "431302", birth: str = "19900101") -> str:
    for seq in range(1000):
        number = make_number(area, birth, seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives X")  # pragma: no cover


def field_group(html: str, name: str) -> str:
    """The form group (label, input, messages) of the field ``name`` on a rendered form."""
    for chunk in html.split('<div class="form-group')[1:]:
        if re.search(rf'\bname="{re.escape(name)}"', chunk):
            return chunk
    raise AssertionError(f"field {name} not on the page")


def assert_duplicate_error(group: str) -> None:
    """Flask-Admin's own unique validator says 已经存在; the view's check (after normalising) says more."""
    assert "is-invalid" in group
    assert re.search(r"<li>(已经存在|已存在相同公民身份号码的记录)", group), group


def test_valid_number_gives_birth_date_and_gender():
    number = make_number("431302", "19850317", 123)  # odd sequence: male
    parsed = parse_id_number(number)
    assert parsed.number == number
    assert parsed.birth_date == datetime.date(1985, 3, 17)
    assert parsed.gender == "male"
    female = parse_id_number(make_number("431302", "19850317", 124))
    assert female.gender == "female"


def test_bad_checksum_is_refused():
    number = with_bad_check(make_number("431302", "19850317", 123))
    with pytest.raises(IdNumberError, match="校验位错误"):
        parse_id_number(number)


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900000"])
def test_impossible_birth_date_is_refused(birth):
    body = f"431302{birth}123"
    number = body + ric.calc_check_digit(body + "0")  # correct check character, impossible date
    with pytest.raises(IdNumberError, match="出生日期无效"):
        parse_id_number(number)


def test_future_birth_date_is_refused():
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(IdNumberError, match="出生日期无效"):
        parse_id_number(make_number("431302", f"{tomorrow:%Y%m%d}", 123))


@pytest.mark.parametrize("value", ["43130219850317123", "4313021985031712345", "43130219850317A23X"])
def test_bad_length_or_characters_are_refused(value):
    with pytest.raises(IdNumberError):
        parse_id_number(value)


def test_lowercase_x_is_accepted_and_upper_cased():
    number = number_ending_in_x()
    parsed = parse_id_number(number.lower())
    assert parsed.number == number
    assert parsed.number.endswith("X")


def test_old_loudi_prefecture_code_is_accepted():
    number = make_number("432501", "19650708", 31)  # 娄底地区 before 1999
    parsed = parse_id_number(number)
    assert parsed.number == number
    assert parsed.birth_date == datetime.date(1965, 7, 8)


def test_louxing_code_with_1990_birth_is_accepted_though_stdnum_refuses_it():
    number = make_number("431302", "19900101", 15)
    with pytest.raises(ValidationError):
        ric.validate(number)  # stdnum: 431302 did not exist in 1990
    parsed = parse_id_number(number)
    assert parsed.number == number
    assert parsed.warnings  # accepted, with a warning about the area code


def test_mask():
    assert mask_id_number("431302199001010018") == "4313**********0018"


# -- through the person form ------------------------------------------------------------------------

def test_form_derives_birth_date_and_gender_and_upper_cases_x(client, world, login, db):
    login("shanshan")
    number = number_ending_in_x("431302", "19920611")
    rv = client.post("/admin/person/new/", data={"name": "罗志强", "region": str(world.shanshan.id),
                                                "id_number": number.lower(), "gender": "female"})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    person = db.session.query(Person).filter_by(name="罗志强").one()
    assert person.id_number == number
    assert person.birth_date == datetime.date(1992, 6, 11)
    expected_gender = "male" if int(number[16]) % 2 else "female"
    assert person.gender == expected_gender  # the number wins over what was typed


def test_form_accepts_old_area_code(client, world, login, db):
    login("shanshan")
    number = make_number("432501", "19681120", 77)
    rv = client.post("/admin/person/new/", data={"name": "贺建国", "region": str(world.shanshan.id),
                                                "id_number": number})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert db.session.query(Person).filter_by(id_number=number).one().birth_date == datetime.date(1968, 11, 20)


def test_form_bad_date_is_a_field_error(client, world, login, db):
    login("shanshan")
    body = "43130219900230123"
    rv = client.post("/admin/person/new/", data={"name": "谢军", "region": str(world.shanshan.id),
                                                "id_number": body + ric.calc_check_digit(body + "0")})
    assert rv.status_code == 200
    assert "出生日期无效" in field_group(rv.get_data(as_text=True), "id_number")
    assert db.session.query(Person).count() == 0


def test_duplicate_id_number_is_a_field_error_and_saves_nothing(client, world, login, db):
    number = number_ending_in_x("431302", "19880808")
    db.session.add(Person(name="周伟", id_number=number, region=world.shanshan))
    db.session.commit()
    login("shanshan")
    # Typed with a lower-case x it is still the same number.
    rv = client.post("/admin/person/new/", data={"name": "彭勇", "region": str(world.shanshan.id),
                                                "id_number": number.lower()})
    assert rv.status_code == 200
    assert_duplicate_error(field_group(rv.get_data(as_text=True), "id_number"))
    db.session.expire_all()
    assert db.session.query(Person).count() == 1
    assert db.session.query(Person).filter_by(name="彭勇").count() == 0


def test_duplicate_in_another_township_is_refused_too(client, world, login, db):
    """Uniqueness is city-wide; the message must not reveal the other row's details."""
    number = make_number("431322", "19880808", 41)
    db.session.add(Person(name="颜丽", id_number=number, region=world.tianping))
    db.session.commit()
    login("shanshan")
    rv = client.post("/admin/person/new/", data={"name": "彭勇", "region": str(world.shanshan.id),
                                                "id_number": number})
    assert rv.status_code == 200
    page = rv.get_data(as_text=True)
    assert_duplicate_error(field_group(page, "id_number"))
    assert "颜丽" not in page
    db.session.expire_all()
    assert db.session.query(Person).count() == 1
