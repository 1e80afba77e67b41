"""The rights screen (权限配置): city admins change the role × model × action matrix, validated input only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.scope import ACTIONS, default_rights, rights_models
from models import Person
from models.rights import RolePermission
from tests.conftest import count_rows
from tests.test_access_matrix import snapshot
from views.rights import cell_name


def _grid_from_defaults(**changes) -> dict[str, str]:
    """The posted form of an untouched grid; ``changes`` maps (role, model, action) → bool."""
    data = {"grid": "1"}
    for role, models in default_rights().items():
        for model, actions in models.items():
            for action in actions:
                data[cell_name(role, model, action)] = "y"
    for (role, model, action), allowed in changes.get("cells", {}).items():
        key = cell_name(role, model, action)
        if allowed:
            data[key] = "y"
        else:
            data.pop(key, None)
    return data


def test_only_city_admins_reach_the_screen(client, login, world, db):
    for role in ("louxing", "shanshan", "viewer"):
        login(role)
        assert client.get("/admin/rights/").status_code == 404, role
        before = snapshot(db)
        rv = client.post("/admin/rights/", data=_grid_from_defaults())
        assert rv.status_code == 404, role
        assert snapshot(db) == before
    login("city")
    page = client.get("/admin/rights/").get_data(as_text=True)
    assert "权限配置" in page and "乡镇工作人员" in page
    assert page.count('type="checkbox"') == len(rights_models()) * len(ACTIONS) * 4


def test_unchanged_grid_stores_nothing_and_a_change_takes_effect(client, login, world, db):
    person = Person(name="王建军", region=world.shanshan)
    db.session.add(person)
    db.session.commit()
    login("city")
    assert client.post("/admin/rights/", data=_grid_from_defaults()).status_code == 302
    assert count_rows(RolePermission) == 0
    # take "delete Person" away from clerks
    rv = client.post("/admin/rights/", data=_grid_from_defaults(cells={("clerk", "Person", "delete"): False}))
    assert rv.status_code == 302
    cells = db.session.scalars(select(RolePermission)).all()
    assert [(c.role, c.model_name, c.action, c.allowed) for c in cells] == [("clerk", "Person", "delete", False)]
    login("shanshan")
    assert client.post("/admin/person/delete/", data={"id": str(person.id)}).status_code == 404
    assert count_rows(Person) == 1
    assert client.get(f"/admin/person/edit/?id={person.id}").status_code == 200  # edit is still allowed
    # give it back: the override disappears
    login("city")
    client.post("/admin/rights/", data=_grid_from_defaults())
    assert count_rows(RolePermission) == 0
    login("shanshan")
    assert client.post("/admin/person/delete/", data={"id": str(person.id)}).status_code == 302
    assert count_rows(Person) == 0


def test_granting_a_new_right_takes_effect(client, login, world, db):
    login("city")
    client.post("/admin/rights/", data=_grid_from_defaults(cells={("viewer", "Person", "export"): True}))
    login("viewer")
    assert client.get("/admin/person/export/csv/", buffered=True).status_code == 200


@pytest.mark.parametrize("bad", [
    {"cell:superuser:Person:view": "y"},
    {"cell:clerk:Nonexistent:view": "y"},
    {"cell:clerk:Person:fly": "y"},
    {"cell:clerk:Person": "y"},
    {"something_else": "1"},
    {"cell:clerk:Person:view": "maybe"},
])
def test_unknown_role_model_or_action_is_400_and_changes_nothing(client, login, world, db, bad):
    login("city")
    data = _grid_from_defaults(cells={("clerk", "Person", "delete"): False})
    data.update(bad)
    before = snapshot(db)
    rv = client.post("/admin/rights/", data=data)
    assert rv.status_code == 400
    assert snapshot(db) == before
    # without the grid marker nothing is taken as "all unchecked"
    assert client.post("/admin/rights/", data={}).status_code == 400
    assert count_rows(RolePermission) == 0


def test_rights_post_needs_csrf(app, client, world, db):
    from tests.conftest import PASSWORD

    client.post("/login", data={"username": "city", "password": PASSWORD})
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        before = snapshot(db)
        rv = client.post("/admin/rights/", data=_grid_from_defaults(cells={("clerk", "Person", "view"): False}))
        assert rv.status_code == 400
        assert snapshot(db) == before
        import re

        page = client.get("/admin/rights/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = _grid_from_defaults(cells={("clerk", "Person", "view"): False})
        rv = client.post("/admin/rights/", data={**data, "csrf_token": token})
        assert rv.status_code == 302
        assert count_rows(RolePermission) == 1
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
