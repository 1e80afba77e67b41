"""The rights screen (权限配置): a role × model × action grid of checkboxes, for city admins only.

Only the cells that differ from ``admin_app.scope.default_rights`` are stored (``RolePermission``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy import select

from admin_app.extensions import db
from admin_app.scope import (
    ACTION_LABELS,
    ACTIONS,
    current_scope,
    default_rights,
    forget_rights,
    rights_models,
)
from admin_app.scope import rights_table as rights_in_force
from models import Role, scoped_models
from models.rights import RolePermission

from .screens import ScopedScreen

FIELD_PREFIX = "cell"


def model_labels() -> dict[str, str]:
    labels = {m.__name__: m.__admin__["name"] for m in scoped_models() if hasattr(m, "__admin__")}
    return {name: labels.get(name, name) for name in rights_models()}


def cell_name(role: str, model: str, action: str) -> str:
    return f"{FIELD_PREFIX}:{role}:{model}:{action}"


def parse_grid(form) -> set[tuple[str, str, str]] | None:
    """The checked cells of a posted grid, or None when any field names an unknown role/model/action."""
    roles = {r.value for r in Role}
    models = set(rights_models())
    checked: set[tuple[str, str, str]] = set()
    for key in form:
        if key in ("csrf_token", "grid"):
            continue
        parts = key.split(":")
        if len(parts) != 4 or parts[0] != FIELD_PREFIX:
            return None
        _prefix, role, model, action = parts
        if role not in roles or model not in models or action not in ACTIONS:
            return None
        if form.get(key) not in ("y", "on", "1"):
            return None
        checked.add((role, model, action))
    return checked


def save_grid(checked: set[tuple[str, str, str]]) -> int:
    """Store the overrides so that the rights in force equal ``checked``; returns cells changed."""
    defaults = default_rights()
    before = rights_in_force()
    for cell in db.session.scalars(select(RolePermission)):
        db.session.delete(cell)
    db.session.flush()
    changed = 0
    for role in (r.value for r in Role):
        for model in rights_models():
            for action in ACTIONS:
                allowed = (role, model, action) in checked
                if allowed != (action in defaults.get(role, {}).get(model, ())):
                    db.session.add(RolePermission(role=role, model_name=model, action=action,
                                                  allowed=allowed))
                if allowed != (action in before.get(role, {}).get(model, ())):
                    changed += 1
    db.session.commit()
    forget_rights()
    return changed


class RightsView(ScopedScreen):
    """权限配置: who may do what, per role, model and action (city-level roles only)."""

    def allowed(self) -> bool:
        return current_scope().is_global

    @expose("/", methods=("GET", "POST"))
    def index(self):
        if request.method == "POST":
            if request.form.get("grid") != "1":
                abort(400)
            checked = parse_grid(request.form)
            if checked is None:
                abort(400)
            changed = save_grid(checked)
            flash(_("权限配置已保存,修改 %(n)s 项", n=changed), "success")
            return redirect(url_for(".index"))
        table = rights_in_force()
        cells = {(role, model, action) for role, models in table.items()
                 for model, actions in models.items() for action in actions}
        return self.render("admin/rights.html", roles=Role.choices(), models=model_labels(),
                           actions=[(a, ACTION_LABELS[a]) for a in ACTIONS], cells=cells,
                           cell_name=cell_name,
                           overridden={(c.role, c.model_name, c.action)
                                       for c in db.session.scalars(select(RolePermission))})
