"""The masking policy (admin_app/privacy.py) holds over everything a user without 查看敏感信息 can see.

The attacker of the issue rebuilt 86 of 86 ID numbers from one list page (``431302********0018`` next to
the full 出生日期). Here a viewer and a clerk whose right was removed fetch every screen, export, print,
search and audit page that shows a person, and try to rebuild the ID numbers from what they saw.
"""

from __future__ import annotations

import datetime
import html
import io
import itertools
import re

import openpyxl
import pytest
from sqlalchemy import select
from test_access_matrix import id_number

from admin_app.privacy import mask_snapshot, mask_value
from models import MilitiaMembership, Person, Qualification, VeteranProfile
from models.rights import RolePermission

YEAR = datetime.date.today().year
# Birth dates whose month-day appears nowhere else in the data (timestamps are today's date).
BIRTHS = [d for d in ("19871123", "19920317", "19750629", "20010905", "19660214")
          if d[4:] != datetime.date.today().strftime("%m%d")][:4]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def valid(number: str) -> bool:
    body = number[:17]
    return body.isdigit() and "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11] \
        == number[17]


# -- the attacker ---------------------------------------------------------------------------------------

MASKED = re.compile(r"(\d{4,6})\*{6,14}(\d{3}[\dXx])")
DATES = re.compile(r"((?:19|20)\d\d)\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})")


def rebuild(text: str) -> set[str]:
    """Every ID number that fits a masked ID shown and a full date shown (any county digits)."""
    found = set(re.findall(r"\d{17}[\dXx]", text))
    dates = set()
    for y, m, d in DATES.findall(text):
        try:
            dates.add(datetime.date(int(y), int(m), int(d)).strftime("%Y%m%d"))
        except ValueError:
            continue
    for head, tail in set(MASKED.findall(text)):
        counties = [head[4:6]] if len(head) >= 6 else [f"{n:02d}" for n in range(100)]
        for county, born in itertools.product(counties, dates):
            candidate = head[:4] + county + born + tail.upper()
            if valid(candidate):
                found.add(candidate)
    return {f.upper() for f in found}


def test_the_attacker_rebuilds_what_the_old_policy_showed():
    """The attack works (a test that cannot fail is a defect): the issue's list row gives the ID away."""
    number = id_number("431302", "19900101", 18)
    assert number in rebuild(f"<td>431302********{number[-4:]}</td><td>1990-01-01</td>")
    # and even without the county digits, a full birth date gives a few dozen candidates at most
    candidates = rebuild(f"<td>4313**********{number[-4:]}</td><td>1990年1月1日</td>")
    assert number in candidates and len(candidates) < 20
    # the policy: the year only leaves nothing to build from
    assert rebuild(f"<td>4313**********{number[-4:]}</td><td>1990</td>") == set()


# -- the data and the users --------------------------------------------------------------------------------

@pytest.fixture()
def people(world, db):
    from models import MilitiaSettings

    # The people are 25 to 60: the city's militia age limits are widened so each can be on the roster.
    db.session.add(MilitiaSettings(city=world.city, min_age=16, max_age=70, core_max_age=70,
                                   veteran_core_max_age=70))
    db.session.flush()
    out = []
    for i, born in enumerate(BIRTHS):
        person = Person(name=f"隐私{i}", region=world.shanshan if i % 2 else world.village,
                        id_number=id_number("431302", born, 100 + i), phone=f"1390000{i:04d}",
                        address=f"杉山镇幸福路 {i + 1} 号")
        db.session.add(person)
        db.session.add(VeteranProfile(person=person, specialty="驾驶", discharged_on=datetime.date(2015, 9, 1)))
        db.session.add(MilitiaMembership(person=person, township=world.shanshan, year=YEAR, category="core",
                                         unit_type="squad"))
        db.session.add(Qualification(person=person, kind="paf_cadre", passed_on=datetime.date(2024, 5, 6)))
        out.append(person)
    db.session.commit()
    assert all(p.birth_date.strftime("%Y%m%d") == b for p, b in zip(out, BIRTHS, strict=True))
    return out


@pytest.fixture()
def blinded(db, people):
    """Viewers may export (a rights-screen change), clerks lost 查看敏感信息 on people."""
    db.session.add_all([
        RolePermission(role="viewer", model_name=name, action="export", allowed=True)
        for name in ("Person", "VeteranProfile", "MilitiaMembership", "Qualification")] + [
        RolePermission(role="clerk", model_name="Person", action="sensitive", allowed=False)])
    db.session.commit()


def links_to(page: str, ident: int) -> bool:
    return re.search(rf'details/\?[^"]*\bid={ident}"', page) is not None


PERSON_SCREENS = ("person", "veteran_profile", "militia_membership", "qualification", "service_record",
                  "appointment")


def _text(rv) -> str:
    ctype = rv.headers.get("Content-Type", "")
    data = rv.get_data()
    if "spreadsheetml" in ctype:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        return "\n".join(" ".join("" if v is None else str(v) for v in row)
                         for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))
    return html.unescape(data.decode("utf-8", "replace"))


def seen_by(client, people, world) -> tuple[str, list[str]]:
    """All a logged-in user can read about the people: every screen, export, print, search, audit page."""
    urls = []
    for screen in PERSON_SCREENS:
        urls += [f"/admin/{screen}/?page_size=500", f"/admin/{screen}/export/csv/",
                 f"/admin/{screen}/export/xlsx/"]
        urls += [f"/admin/{screen}/?sort={i}" for i in range(12)]
    for person in people:
        urls += [f"/admin/person/details/?id={person.id}", f"/admin/person/edit/?id={person.id}"]
        # searches answer nothing about the person (the page echoes the term, which the user typed)
        for term in (person.id_number, person.id_number[6:14], person.phone, person.phone[3:7],
                     person.address[3:6], person.birth_date.isoformat()):
            page = client.get("/admin/person/", query_string={"search": term}).get_data(as_text=True)
            assert not links_to(page, person.id), term
    from admin_app.extensions import db

    for model in (VeteranProfile, MilitiaMembership, Qualification):
        for ident in db.session.scalars(select(model.id)):
            urls.append(f"/admin/{model.__tablename__}/details/?id={ident}")
    urls += [f"/print/{world.shanshan.code}/veterans.pdf", f"/print/{world.shanshan.code}/militia/{YEAR}.pdf",
             f"/print/{world.shanshan.code}/org-chart.html"]
    urls += ["/admin/audit_log/?page_size=500"]
    texts, ok = [], []
    for url in urls:
        rv = client.get(url)
        if rv.status_code == 200:
            texts.append(_text(rv))
            ok.append(url)
    # every audit entry the user may open
    listing = client.get("/admin/audit_log/?page_size=500").get_data(as_text=True)
    for ident in sorted(set(re.findall(r'audit_log/details/\?[^"]*?\bid=(\d+)', listing))):
        rv = client.get(f"/admin/audit_log/details/?id={ident}")
        if rv.status_code == 200:
            texts.append(_text(rv))
            ok.append(f"audit {ident}" + (" person" if "4313**********" in texts[-1] else ""))
    return "\n".join(texts), ok


@pytest.fixture()
def printed_as_html(monkeypatch):
    """Prints return their HTML instead of a PDF: the same content, with no font or WeasyPrint needed."""
    import printables.web

    monkeypatch.setattr(printables.web, "render_pdf", lambda source: source.encode())


@pytest.mark.parametrize("username", ["viewer", "shanshan"])
def test_no_id_number_can_be_rebuilt_from_anything_shown(client, login, world, db, people, blinded,
                                                          printed_as_html, username):
    login(username)
    seen, fetched = seen_by(client, people, world)
    # positive controls: the pages really showed these people, masked by the policy
    assert any(u.startswith("/admin/person/?page_size") for u in fetched)
    assert any("veterans.pdf" in u for u in fetched) and any("militia" in u for u in fetched), fetched
    for person in people:
        assert person.name in seen
        assert mask_value(Person, "id_number", person.id_number) in seen, person.name
        assert f"{person.birth_date.year}" in seen
    if username == "shanshan":
        assert any(u.startswith("audit") and u.endswith("person") for u in fetched), \
            "the clerk reads the people's audit history, masked"
        assert "/admin/person/export/csv/" in fetched and "/admin/person/export/xlsx/" in fetched
    # the attack
    real = {p.id_number for p in people}
    assert rebuild(seen) & real == set()
    for person in people:
        assert person.id_number not in seen
        assert person.birth_date.strftime("%Y%m%d") not in seen
        assert person.birth_date.strftime("%m-%d") not in seen, person.birth_date
        assert person.phone not in seen and person.address not in seen


def test_searching_sensitive_values_confirms_nothing(client, login, world, db, people, blinded):
    login("shanshan")
    target = people[0]
    for term in (target.id_number, target.id_number.lower(), target.id_number[:10], target.id_number[-8:],
                 target.phone, target.phone[-4:], "幸福路", target.birth_date.isoformat(),
                 target.birth_date.strftime("%Y%m%d")):
        page = client.get("/admin/person/", query_string={"search": term}).get_data(as_text=True)
        assert not links_to(page, target.id) and target.name not in page, term
    # a name still finds (control)
    page = client.get("/admin/person/", query_string={"search": target.name}).get_data(as_text=True)
    assert links_to(page, target.id)


def test_import_does_not_resolve_people_by_id_number_without_the_right(client, login, world, db, people,
                                                                       blinded):
    login("shanshan")
    payload = f"人员,专业特长\n{people[0].id_number},驾驶\n".encode()
    rv = client.post("/admin/veteran_profile/import/", data={"file": (io.BytesIO(payload), "v.csv")},
                     content_type="multipart/form-data")
    body = rv.get_data(as_text=True)
    assert rv.status_code in (400, 422)
    assert "找不到" in body  # the same answer as for a number nobody has


def test_sorting_by_a_masked_column_is_ignored(client, login, world, db, people, blinded, app):
    from conftest import generated_views

    view = next(v for v in generated_views(app) if v.endpoint == "person")
    names = [c[0] for c in view._list_columns]
    login("viewer")
    default = client.get("/admin/person/?page_size=500").get_data(as_text=True)
    order = [p.name for p in sorted(people, key=lambda p: default.index(p.name))]
    for column in ("birth_date", "id_number", "phone"):
        idx = names.index(column)
        for desc in ("0", "1"):
            page = client.get(f"/admin/person/?page_size=500&sort={idx}&desc={desc}").get_data(as_text=True)
            assert [p.name for p in sorted(people, key=lambda p: page.index(p.name))] == order, column
        assert f"sort={idx}" not in default  # no sort link in the header either
    # with the right, the column sorts (control)
    login("city")
    idx = names.index("birth_date")
    page = client.get(f"/admin/person/?page_size=500&sort={idx}").get_data(as_text=True)
    by_birth = [p.name for p in sorted(people, key=lambda p: p.birth_date)]
    assert [p.name for p in sorted(people, key=lambda p: page.index(p.name))] == by_birth


def test_edit_form_carries_no_sensitive_value_and_keeps_it_when_left_empty(client, login, world, db,
                                                                           people, blinded):
    from test_access_matrix import parse_form

    login("shanshan")
    person = people[1]
    url = f"/admin/person/edit/?id={person.id}"
    page = client.get(url).get_data(as_text=True)
    assert person.id_number not in page and person.phone not in page and person.address not in page
    assert person.birth_date.isoformat() not in page
    form = parse_form(page)
    form.values["name"] = "隐私改名"
    rv = client.post(url, data=form.values)
    assert rv.status_code == 302, rv.get_data(as_text=True)[:1500]
    db.session.expire_all()
    saved = db.session.get(Person, person.id)
    assert saved.name == "隐私改名"
    assert (saved.id_number, saved.phone, saved.address, saved.birth_date) == \
        (person.id_number, person.phone, person.address, person.birth_date)


def test_with_the_right_everything_shows(client, login, world, db, people):
    login("shanshan")
    page = client.get(f"/admin/person/details/?id={people[0].id}").get_data(as_text=True)
    assert people[0].id_number in page and people[0].birth_date.isoformat() in page


def test_mask_snapshot_masks_the_sensitive_set_only():
    snap = {"name": "王建军", "id_number": "431302199001010018", "birth_date": "1990-01-01",
            "phone": "13812345678", "address": "杉山镇幸福路 8 号", "gender": "male"}
    masked = mask_snapshot(Person, snap, may_see=False)
    assert masked == {"name": "王建军", "id_number": "4313**********0018", "birth_date": "1990",
                      "phone": "138****5678", "address": "杉山镇****", "gender": "male"}
    assert mask_snapshot("person", snap, may_see=True) == snap
    assert mask_snapshot(Person, None, may_see=False) is None
    assert rebuild(str(masked)) == set()
