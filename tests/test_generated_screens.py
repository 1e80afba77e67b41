"""Every generated screen lists, creates, edits and deletes; new models are picked up automatically.

Form data is derived from each view's own create form, so adding a model or a column needs no edit here.
"""

from __future__ import annotations

import datetime
import itertools

import pytest
from wtforms import fields as wtf

from admin_app.scope import Scope
from tests.conftest import count_rows, generated_views, post_type

_counter = itertools.count(1)


@pytest.fixture()
def linked_rows(world, db):
    """One row of each kind a form may link to, inside 杉山镇."""
    from models import AnnualPlan, Appointment, Duty, Person, Post

    person = Person(name="王建军", region=world.shanshan)
    post = Post(region=world.shanshan, title="武装部部长", side="armed_forces",
                post_type=post_type("武装部部长", headcount=3))
    duty = Duty(name="民兵整组", category="armed_forces")
    plan = AnnualPlan(township=world.shanshan, year=2026, title="2026 年度大项工作计划")
    # 王建军 holds a post, so he may also handle service records (a handler is township staff).
    staff = Appointment(person=person, post=post, start_on=datetime.date(2020, 1, 1))
    db.session.add_all([person, post, duty, plan, staff])
    db.session.commit()
    return world


def _value_for(name: str, field, info: dict):
    n = next(_counter)
    if isinstance(field, wtf.BooleanField):
        return "y"
    if hasattr(field, "query_factory") or hasattr(field, "loader"):
        return _first_choice(field)
    if getattr(field, "choices", None):
        choices = [c[0] if isinstance(c, tuple | list) else c for c in field.choices]
        choices = [c for c in choices if c not in ("", "__None")]
        if name == "level":  # the lowest level fits under any parent
            return str(choices[-1]) if choices else ""
        return str(choices[0]) if choices else ""
    if isinstance(field, wtf.DateField):  # before DateTimeField: DateField subclasses it
        return "2026-03-01"
    if isinstance(field, wtf.DateTimeField):
        return datetime.datetime(2026, 3, 1, 9, 0).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(field, wtf.IntegerField | wtf.DecimalField | wtf.FloatField):
        low = info.get("min")
        return str(low if low is not None else (2026 if name == "year" else 1))
    if name == "code":
        return f"4313021{n:05d}"
    if name in ("id_number", "phone"):
        return ""
    return f"测试{name}{n}"


def _first_choice(field) -> str:
    if hasattr(field, "loader"):
        query = field.loader.get_query()
        obj = query.first()
    else:
        obj = field.query_factory().first()
    return str(obj.id) if obj is not None else ""


def _form_data(view, app, username: str) -> dict[str, str]:
    with app.test_request_context(f"/admin/{view.endpoint}/new/"):
        from flask_login import login_user

        from admin_app.extensions import db
        from models import User

        login_user(db.session.query(User).filter_by(username=username).one())
        form = view.create_form()
        data = {}
        columns = view.model.__table__.c
        for name, field in form._fields.items():
            if name in ("csrf_token", "row_version") or isinstance(field, wtf.FieldList | wtf.FormField):
                continue
            info = columns[name].info if name in columns else {}
            data[name] = _value_for(name, field, info)
        return data


def test_every_model_has_a_screen(app):
    from models import scoped_models

    with_meta = {m.__tablename__ for m in scoped_models() if hasattr(m, "__admin__")}
    assert with_meta <= {v.endpoint for v in generated_views(app)}


def test_screen_lists_creates_edits_deletes(endpoint, app, client, login, linked_rows, db):
    view = next(v for v in generated_views(app) if v.endpoint == endpoint)
    model = view.model
    # The 杉山镇 clerk works every screen it may create on; city-wide tables need the city admin.
    username = "shanshan" if Scope.for_user(linked_rows.users["shanshan"]).can(model, "create") else "city"
    login(username)
    assert client.get(f"/admin/{endpoint}/").status_code == 200
    if view.read_only:
        assert client.get(f"/admin/{endpoint}/new/").status_code in (302, 403, 404)
        return
    assert client.get(f"/admin/{endpoint}/new/").status_code == 200
    before = count_rows(model)
    data = _form_data(view, app, username)
    rv = client.post(f"/admin/{endpoint}/new/", data=data)
    assert rv.status_code == 302, (data, _errors(rv))
    assert count_rows(model) == before + 1
    new_id = db.session.query(model.id).order_by(model.id.desc()).first()[0]
    assert client.get(f"/admin/{endpoint}/details/?id={new_id}").status_code == 200
    assert client.get(f"/admin/{endpoint}/edit/?id={new_id}").status_code == 200
    current = db.session.get(model, new_id)
    db.session.refresh(current)
    rv = client.post(f"/admin/{endpoint}/edit/?id={new_id}", data={**data, "row_version": current.version})
    assert rv.status_code == 302, _errors(rv)
    rv = client.post(f"/admin/{endpoint}/delete/", data={"id": new_id})
    assert rv.status_code == 302
    assert count_rows(model) == before


def _errors(rv) -> list[str]:
    """The error messages a re-rendered form shows (for assertion messages)."""
    import re

    html = rv.get_data(as_text=True)
    chunks = re.findall(r'class="[^"]*(?:text-danger|alert-danger|invalid-feedback)[^"]*"[^>]*>(.{0,400}?)</(?:ul|div)>',
                        html, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in chunks]
