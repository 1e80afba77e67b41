"""The access matrix, generated from the registered screens: a new screen is covered without editing here.

For every generated view and every demo role whose scope excludes 田坪镇 (新化县), a row of 田坪镇 is
denied (404) on details, edit GET and POST, delete and every bulk action; lists, exports, ajax lookups,
drop-downs and filter options never show it; forged links in create/edit are refused; and every refused
write leaves the database unchanged. Positive controls (the city admin sees the same rows, an untampered
save succeeds) keep each check from passing vacuously.
"""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser
from itertools import count

import pytest
from sqlalchemy import inspect, select

from admin_app.scope import EDIT, default_rights
from models import (
    AnnualPlan,
    Appointment,
    AuditLog,
    Base,
    Duty,
    DutyAdjustment,
    DutyTemplateEntry,
    Grant,
    MilitiaMembership,
    MilitiaUnit,
    Person,
    PlanItem,
    PlanTemplateItem,
    Post,
    Qualification,
    Region,
    Room,
    ServiceRecord,
    ServiceWindow,
    Transfer,
    User,
    VeteranProfile,
)
from tests.conftest import PASSWORD, generated_views, make_region, post_type
from views.base import SecuredModelView

MARK = "FRGN"
OUTSIDERS = ("shanshan", "dake", "louxing")  # scopes without 田坪镇 / 新化县
FOREIGN_NAMES = ("田坪镇", "新化县", MARK)
_seq = count(1)


# -- one valid row per model, for any township ------------------------------------------------------
def id_number(area: str, born: str, seq: int) -> str:
    body = f"{area}{born}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def build_rows(db, township: Region) -> dict[str, object]:
    """One valid row of every model, all reaching ``township``; keyed by model name."""
    n = next(_seq)
    village = make_region(township.code[:9] + f"{500 + n % 400:03d}", f"{township.name}村{n}", "village", township)
    person = Person(name=f"人员{n}", region=township, id_number=id_number(township.code[:6], "20000101", 10 + n % 900),
                    phone=f"1380000{n:04d}", address=f"{township.name}某路{n}号")
    post_kind = post_type(f"岗位类别{n}", headcount=5)
    post = Post(region=township, title=f"岗位{n}", side="armed_forces", post_type=post_kind)
    duty = Duty(name=f"本地职责{n}", category="non_core", region=township)
    plan = AnnualPlan(township=township, year=2026, title=f"计划{n}")
    user = User(username=f"user{n}", display_name=f"账号{n}")
    user.set_password(PASSWORD)
    grant = Grant(user=user, role="clerk", region=township)
    rows = {
        "Region": village, "Person": person, "Post": post, "PostType": post_kind, "Duty": duty, "AnnualPlan": plan, "User": user,
        "Grant": grant,
        "VeteranProfile": VeteranProfile(person=person, specialty=f"特长{n}"),
        "MilitiaMembership": MilitiaMembership(person=person, township=township, year=2026, category="core",
                                               unit_type="squad"),
        "MilitiaUnit": MilitiaUnit(township=township, year=2026, kind="squad", name=f"班{n}"),
        "Qualification": Qualification(person=person, kind="paf_cadre", passed_on=datetime.date(2025, 1, 1),
                                       certificate_no=f"Z{n}"),
        "Appointment": Appointment(person=person, post=post, start_on=datetime.date(2025, 1, 1)),
        "Room": Room(region=township, kind="office", name=f"办公室{n}"),
        "ServiceWindow": ServiceWindow(region=township, name=f"窗口{n}"),
        "DutyTemplateEntry": DutyTemplateEntry(post_title=f"模板岗位{n}", duty=duty),
        "DutyAdjustment": DutyAdjustment(township=township, action="add", duty=duty, target_post=post,
                                         reason=f"理由{n}"),
        "PlanItem": PlanItem(plan=plan, month=3, title=f"事项{n}", lead_post=post),
        "ServiceRecord": ServiceRecord(person=person, township=township, kind="policy", handler_note=f"经办{n}"),
        # 户籍迁入 into ``township`` (the sending side only needs to differ; its person is linked on purpose)
        "Transfer": Transfer(person=person, from_township=village, to_township=township, note=f"迁入{n}"),
        "PlanTemplateItem": PlanTemplateItem(month=3, title=f"模板事项{n}", lead_post_title=f"岗位{n}"),
        "AuditLog": AuditLog(action="update", table_name="person", region_id=township.id, summary=f"摘要{n}"),
    }
    db.session.add_all(rows.values())
    db.session.flush()
    for view_model in _screen_models():
        if view_model.__name__ not in rows:
            rows[view_model.__name__] = generic_row(db, view_model, township, rows, n)
    db.session.flush()
    return rows


def _screen_models() -> list[type]:
    from models import scoped_models

    return [m for m in scoped_models() if hasattr(m, "__admin__")]


def generic_row(db, model, township: Region, rows: dict, n: int):
    """A valid row of a model without an explicit builder: links go to ``township`` or to its rows."""
    obj = model()
    mapper = inspect(model)
    for rel in mapper.relationships:
        if rel.direction.name != "MANYTOONE":
            continue
        target = rel.mapper.class_
        if target is Region:
            setattr(obj, rel.key, township)
        elif target.__name__ in rows:
            setattr(obj, rel.key, rows[target.__name__])
    for col in mapper.columns:
        if col.primary_key or col.foreign_keys or getattr(obj, col.key) is not None:
            continue
        if col.key in ("version", "created_at", "updated_at"):
            continue
        if "choices" in col.info:
            setattr(obj, col.key, next(iter(col.info["choices"])).value)
            continue
        kind = col.type.python_type
        if kind is str:
            length = getattr(col.type, "length", None) or 40
            setattr(obj, col.key, f"值{n}"[:length])
        elif kind is bool:
            setattr(obj, col.key, False)
        elif kind is int:
            setattr(obj, col.key, col.info.get("min", 1))
        elif kind is datetime.date:
            setattr(obj, col.key, datetime.date(2026, 1, 1))
        elif kind is datetime.datetime:
            setattr(obj, col.key, datetime.datetime(2026, 1, 1, 9, 0))
        elif not col.nullable:
            setattr(obj, col.key, 1)
    db.session.add(obj)
    return obj


def mark_foreign(rows: dict[str, object]) -> None:
    """Put MARK in every free-text column of the foreign rows, so any leak of them is visible."""
    for obj in rows.values():
        model = type(obj)
        if getattr(model, "__scope__", None) is None:
            continue  # city-wide rows (catalogue, templates) belong to every township: not foreign
        for col in inspect(model).columns:
            if (col.key in ("code", "path", "name_pinyin", "name_initials", "password_hash", "table_name")
                    or col.foreign_keys or col.primary_key or "choices" in col.info
                    or col.key in getattr(model, "__sensitive__", ())
                    or col.type.python_type is not str):
                continue
            if getattr(obj, col.key) is not None:
                setattr(obj, col.key, f"{MARK}{next(_seq)}")


@pytest.fixture()
def rows(world, db):
    """Rows of 杉山镇 (``home``) and of 田坪镇 (``foreign``, marked) for every model."""
    home = build_rows(db, world.shanshan)
    foreign = build_rows(db, world.tianping)
    mark_foreign(foreign)
    db.session.commit()
    return {"home": home, "foreign": foreign}


def view_for(app, endpoint) -> SecuredModelView:
    return next(v for v in generated_views(app) if v.endpoint == endpoint)


def snapshot(db) -> dict:
    """Every row of every table (login bookkeeping aside)."""
    db.session.rollback()
    out = {}
    for table in Base.metadata.sorted_tables:
        if table.name == "login_attempt":
            continue
        out[table.name] = sorted(tuple(map(str, r)) for r in db.session.execute(select(table)).all())
    return out


def test_every_registered_model_gets_a_row_of_the_township(app, world, db):
    from admin_app.scope import _regions_of

    built = build_rows(db, world.tianping)
    db.session.commit()
    for view in generated_views(app):
        obj = built[view.model.__name__]
        assert isinstance(obj, view.model)
        spec = getattr(view.model, "__scope__", None)
        if spec and spec != "self":
            regions = _regions_of(obj, spec.split("."))
            assert regions and all(r is not None and r.path.startswith(world.tianping.path) for r in regions), \
                f"the builder of {view.model.__name__} does not reach 田坪镇"


class FormParser(HTMLParser):
    """The fields of the model form of a page: inputs, selects (with options), textareas."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self.checkboxes: set[str] = set()
        self._select = None
        self._textarea = None
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "admin-form" in (a.get("class") or ""):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind == "checkbox":
                self.checkboxes.add(name)
                if "checked" in a:
                    self.values[name] = a.get("value") or "y"
            elif kind not in ("submit", "button"):
                self.values[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.options[name] = []
            self.values.setdefault(name, "")
        elif tag == "option" and self._select:
            value = a.get("value", "")
            self.options[self._select].append(value)
            if "selected" in a:
                self.values[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            # as in a browser: the newline right after <textarea> is not part of the value
            value = self.values[self._textarea]
            self.values[self._textarea] = value[2:] if value.startswith("\r\n") else \
                value[1:] if value.startswith("\n") else value
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def parse_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def link_target(model, field_name: str):
    """The model a form field (``person`` or inline ``grants-0-region``) links to, or None."""
    parts = field_name.split("-")
    mapper = inspect(model)
    if len(parts) == 3 and parts[0] in mapper.relationships:
        mapper = inspect(mapper.relationships[parts[0]].mapper.class_)
        field_name = parts[2]
    if field_name in mapper.relationships and mapper.relationships[field_name].direction.name == "MANYTOONE":
        return mapper.relationships[field_name].mapper.class_
    return None


def lookup_term(model, field_name: str, foreign) -> tuple[str, str]:
    """What an ajax lookup of ``field_name`` is asked for, and what marks the foreign row's link in its
    answer: a region field (a lookup since the province run) by the name of the region the foreign row
    links to (田坪镇 for township rows), other links by MARK."""
    if link_target(model, field_name) is Region:
        region = getattr(foreign, field_name)
        return region.name[:2], region.name
    return MARK, MARK


def foreign_target(rows, world, target):
    return world.tianping if target is Region else rows["foreign"][target.__name__]


def readable(html: str) -> str:
    """The page plus its embedded JSON data (filter options …) decoded, so escaped text is seen too."""
    import html as html_lib
    import json

    extra = []
    for blob in re.findall(r'<div id="[\w-]+-data"[^>]*>(.*?)</div>', html, re.S):
        try:
            extra.append(json.dumps(json.loads(html_lib.unescape(blob)), ensure_ascii=False))
        except ValueError:
            continue
    return html + "\n".join(extra)


def assert_no_foreign(text: str, where: str):
    text = readable(text)
    for name in FOREIGN_NAMES:
        assert name not in text, f"{where} shows {name}"


def ids_on_list(html: str) -> set[int]:
    return {int(i) for i in re.findall(r"[?&](?:amp;)?id=(\d+)", html)} | \
        {int(i) for i in re.findall(r'name="rowid" value="(\d+)"', html)}


def _export(client, endpoint, fmt):
    rv = client.get(f"/admin/{endpoint}/export/{fmt}/", buffered=True)  # csv is streamed
    assert rv.status_code == 200, (endpoint, fmt, rv.status_code)
    if fmt == "csv":
        return rv.get_data(as_text=True)
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(rv.data))
    return "\n".join(str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row)


# -- reads: lists, exports, details, ajax, drop-downs, filter options ---------------------------------
def test_reads_never_show_a_foreign_row(app, client, login, rows, world, db, endpoint):
    view = view_for(app, endpoint)
    name = view.model.__name__
    home, foreign = rows["home"][name], rows["foreign"][name]
    city_wide = getattr(view.model, "__scope__", None) is None
    ajax = list((view._form_ajax_refs or {}).keys())

    # Positive control: the city admin sees the foreign rows everywhere we look below.
    login("city")
    page = readable(client.get(f"/admin/{endpoint}/?page_size=500").get_data(as_text=True))
    assert foreign.id in ids_on_list(page)
    if not city_wide:
        assert MARK in page or "田坪镇" in page, f"{endpoint}: the list shows nothing to detect a leak by"
        for fmt in view.export_types:
            assert MARK in _export(client, endpoint, fmt) or "田坪镇" in _export(client, endpoint, fmt)
    for field in ajax:
        term, mark = lookup_term(view.model, field, foreign)
        levels = getattr(view._form_ajax_refs[field], "levels", None)
        if levels and getattr(foreign, field).level not in levels:
            continue  # the builder linked a township where the field takes a city: nothing to find
        found = client.get(f"/admin/{endpoint}/ajax/lookup/?name={field}&query={term}").get_json()
        assert any(mark in text for _i, text in found), (endpoint, field, term, found)

    for role in OUTSIDERS:
        login(role)
        can_view = name in default_rights()[world.users[role].grants[0].role] and \
            "view" in default_rights()[world.users[role].grants[0].role][name]
        rv = client.get(f"/admin/{endpoint}/?page_size=500")
        if not can_view:
            assert rv.status_code == 404, (endpoint, role)
            continue
        page = rv.get_data(as_text=True)
        assert rv.status_code == 200
        if city_wide:
            continue
        assert foreign.id not in ids_on_list(page), (endpoint, role)
        assert_no_foreign(page, f"{endpoint} list as {role}")
        if role in ("shanshan", "louxing") and name not in ("AuditLog",):
            assert home.id in ids_on_list(page), (endpoint, role)  # control: own rows are listed
        for term in (MARK, "田坪"):
            found = client.get(f"/admin/{endpoint}/?search={term}").get_data(as_text=True)
            assert foreign.id not in ids_on_list(found)
        if view.can_view_details:
            assert client.get(f"/admin/{endpoint}/details/?id={foreign.id}").status_code == 404
        for fmt in view.export_types:
            if "export" in default_rights()[world.users[role].grants[0].role][name]:
                assert_no_foreign(_export(client, endpoint, fmt), f"{endpoint} {fmt} as {role}")
            else:
                assert client.get(f"/admin/{endpoint}/export/{fmt}/", buffered=True).status_code in (302, 404)
        for field in ajax:
            term, mark = lookup_term(view.model, field, foreign)
            found = client.get(f"/admin/{endpoint}/ajax/lookup/?name={field}&query={term}").get_json() or []
            assert not any(mark in text for _i, text in found), (endpoint, role, field)
            target = link_target(view.model, field)
            all_found = client.get(f"/admin/{endpoint}/ajax/lookup/?name={field}&query=").get_json() or []
            assert foreign_target(rows, world, target).id not in [int(i) for i, _t in all_found]
        if "create" in default_rights()[world.users[role].grants[0].role][name] and not view.read_only:
            form_page = client.get(f"/admin/{endpoint}/new/").get_data(as_text=True)
            assert_no_foreign(form_page, f"{endpoint} create form as {role}")
            form = parse_form(form_page)
            for field, options in form.options.items():
                target = link_target(view.model, field)
                if target is not None and getattr(target, "__scope__", None) is not None:  # not city-wide
                    assert str(foreign_target(rows, world, target).id) not in options, (endpoint, role, field)


# -- writes by id: details, edit GET/POST, delete, every action -----------------------------------------
def test_writes_on_a_foreign_row_answer_404_and_change_nothing(app, client, login, rows, world, db, endpoint):
    view = view_for(app, endpoint)
    name = view.model.__name__
    foreign = rows["foreign"][name]
    actions = [a for a, _label in view._actions] if view._actions else []
    for role in OUTSIDERS:
        login(role)
        before = snapshot(db)
        can_view = "view" in default_rights()[world.users[role].grants[0].role].get(name, ())
        expected = 404
        assert client.get(f"/admin/{endpoint}/edit/?id={foreign.id}").status_code == expected, (endpoint, role)
        rv = client.post(f"/admin/{endpoint}/edit/?id={foreign.id}", data={"row_version": "1"})
        assert rv.status_code == expected, (endpoint, role)
        rv = client.post(f"/admin/{endpoint}/delete/", data={"id": str(foreign.id)})
        assert rv.status_code == expected, (endpoint, role)
        for action in actions or ["delete"]:
            rv = client.post(f"/admin/{endpoint}/action/", data={"action": action, "rowid": [str(foreign.id)]})
            assert rv.status_code == expected, (endpoint, role, action)
        if can_view and view.can_view_details and getattr(view.model, "__scope__", None) is not None:
            assert client.get(f"/admin/{endpoint}/details/?id={foreign.id}").status_code == expected
        assert snapshot(db) == before, (endpoint, role)


def test_mixed_bulk_action_is_refused_whole(app, client, login, rows, db, endpoint):
    view = view_for(app, endpoint)
    name = view.model.__name__
    if view.read_only or getattr(view.model, "__scope__", None) is None:
        pytest.skip("no township rows to delete here")  # city-wide or read-only: covered above
    login("louxing")
    before = snapshot(db)
    ids = [str(rows["home"][name].id), str(rows["foreign"][name].id)]
    rv = client.post(f"/admin/{endpoint}/action/", data={"action": "delete", "rowid": ids})
    assert rv.status_code == 404
    assert snapshot(db) == before


# -- forged links in create and edit -------------------------------------------------------------------
def _editor(name: str, world) -> str | None:
    for role in ("shanshan", "louxing"):
        if EDIT in default_rights()[world.users[role].grants[0].role].get(name, ()):
            return role
    return None


def test_forged_links_are_refused(app, client, login, rows, world, db, endpoint):
    view = view_for(app, endpoint)
    name = view.model.__name__
    role = _editor(name, world)
    if view.read_only or role is None or getattr(view.model, "__scope__", None) is None:
        pytest.skip(f"{endpoint}: no outsider may edit it (covered by the 404 test)")
    home = rows["home"][name]
    login(role)
    url = f"/admin/{endpoint}/edit/?id={home.id}"
    form = parse_form(client.get(url).get_data(as_text=True))
    assert form.values, f"{endpoint}: no form found on the edit page"
    links = [f for f in form.values if link_target(view.model, f) is not None
             and getattr(link_target(view.model, f), "__scope__", None) is not None]  # city-wide: anyone's
    assert links or name in ("Region",), f"{endpoint}: no link field to forge"
    for field in links:
        forged = dict(form.values)
        forged[field] = str(foreign_target(rows, world, link_target(view.model, field)).id)
        before = snapshot(db)
        rv = client.post(url, data=forged)
        assert rv.status_code == 200, (endpoint, field, rv.status_code)
        assert snapshot(db) == before, (endpoint, field)
        rv = client.post(f"/admin/{endpoint}/new/", data=forged)
        assert rv.status_code == 200, (endpoint, field, "create")
        assert snapshot(db) == before, (endpoint, field, "create")
    # Control: the untampered form saves, so the refusals above were about the forged link.
    rv = client.post(url, data=form.values)
    assert rv.status_code == 302, (endpoint, rv.get_data(as_text=True)[:3000])
