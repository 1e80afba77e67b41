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
        from .dashboard import dashboard_page

        return dashboard_page(self)


def init_admin(app, db) -> Admin:
    from admin_app.security import csp_nonce

    admin = Admin(app, name="一部一站 合署办公管理平台", index_view=HomeView(name="首页", url="/admin"),
                  theme=_theme(), csp_nonce_generator=csp_nonce)
    for view in build_views(db):
        admin.add_view(view)
    from .history import bp as history_bp

    app.register_blueprint(history_bp)
    from .duties import DutyDivisionView, DutyTemplateView
    from .plans import PlanProgressView

    admin.add_view(DutyDivisionView(name="职责分工", category="职责与计划", endpoint="duty_division",
                                    url="/admin/duties"))
    admin.add_view(DutyTemplateView(name="职责模板维护", category="职责与计划", endpoint="duty_template_screen",
                                    url="/admin/duty-template"))
    admin.add_view(PlanProgressView(name="年度计划进度", category="职责与计划", endpoint="plan_progress",
                                    url="/admin/plans"))
    from .rights import RightsView

    admin.add_view(RightsView(name="权限配置", category="系统管理", endpoint="rights", url="/admin/rights"))
    from .jobs import JobsView

    admin.add_view(JobsView(name="我的任务", category="系统管理", endpoint="jobs", url="/admin/jobs"))
    return admin


def _theme():
    from flask_admin.theme import Bootstrap4Theme

    return Bootstrap4Theme(swatch="cerulean", fluid=True)
