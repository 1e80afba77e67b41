"""Screens generated from the schema, plus the few hand-made ones (home, login pages live in auth)."""

from __future__ import annotations

from flask import Blueprint
from flask_admin import Admin, AdminIndexView, expose
from flask_login import current_user

from .factory import build_views

# Serves our templates (overriding Flask-Admin's) and static files.
bp = Blueprint("views", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/views")


class HomeView(AdminIndexView):
    """The /admin/ home; login required."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        from flask import redirect, request, url_for

        return redirect(url_for("auth.login", next=request.full_path))

    @expose("/")
    def index(self):
        return self.render("admin/home.html")


def init_admin(app, db) -> Admin:
    admin = Admin(app, name="一部一站 合署办公管理平台", index_view=HomeView(name="首页", url="/admin"),
                  theme=_theme())
    for view in build_views(db):
        admin.add_view(view)
    return admin


def _theme():
    from flask_admin.theme import Bootstrap4Theme

    return Bootstrap4Theme(swatch="cerulean", fluid=True)
