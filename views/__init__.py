"""Screens generated from the schema, plus the few hand-made ones (home, login pages live in auth)."""

from __future__ import annotations

from flask import Blueprint
from flask_admin import Admin, AdminIndexView, expose
from flask_login import current_user

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
    from flask_babel import lazy_gettext as _l

    from admin_app.security import csp_nonce

    from .factory import build_views  # Flask-Admin's SQLAlchemy layer: loaded with the screens only

    admin = Admin(app, name="一部一站 合署办公管理平台", index_view=HomeView(name=_l("首页"), url="/admin"),
                  theme=_theme(), csp_nonce_generator=csp_nonce)
    from .duties import DutyDivisionView, DutyTemplateView
    from .intake import IntakeView, OpenItemsView, veterans_window_figures
    from .jobs import JobsView
    from .militia import MilitiaView
    from .people_file import PersonFileView
    from .plans import PlanProgressView
    from .rights import RightsView
    from .stats import StatsView

    # The task screens come first in their menu group; the generated lists they cover are reached from
    # them (``__admin__["menu"]``), the others follow.
    screens = {
        "职责与计划": [
            DutyDivisionView(name=_l("职责分工"), category=_l("职责与计划"), endpoint="duty_division",
                             url="/admin/duties"),
            PlanProgressView(name=_l("年度计划进度"), category=_l("职责与计划"), endpoint="plan_progress",
                             url="/admin/plans"),
            DutyTemplateView(name=_l("职责模板维护"), category=_l("职责与计划"), endpoint="duty_template_screen",
                             url="/admin/duty-template"),
        ],
        "退役军人服务": [
            IntakeView(name=_l("返乡报到"), category=_l("退役军人服务"), endpoint="intake", url="/admin/intake"),
            OpenItemsView(name=_l("窗口待办"), category=_l("退役军人服务"), endpoint="service_desk",
                          url="/admin/service-desk"),
        ],
        "民兵": [
            MilitiaView(name=_l("民兵整组"), category=_l("民兵"), endpoint="militia", url="/admin/militia"),
        ],
        "统计报表": [
            StatsView(name=_l("年度统计报表"), category=_l("统计报表"), endpoint="stats", url="/admin/stats"),
        ],
        "系统管理": [
            JobsView(name=_l("我的任务"), category=_l("系统管理"), endpoint="jobs", url="/admin/jobs"),
            RightsView(name=_l("权限配置"), category=_l("系统管理"), endpoint="rights", url="/admin/rights"),
        ],
    }
    for view in build_views(db):
        for screen in screens.pop(str(view.category), []):
            admin.add_view(screen)
        admin.add_view(view)
    for rest in screens.values():
        for screen in rest:
            admin.add_view(screen)
    admin.add_view(PersonFileView(name=_l("一人一档"), endpoint="person_file", url="/admin/people"))
    app.add_template_global(veterans_window_figures)
    from .militia import village_rule_warnings

    app.add_template_global(village_rule_warnings)
    from .history import bp as history_bp

    app.register_blueprint(history_bp)
    app.context_processor(_list_links)
    return admin


def _list_links():
    """``list_url(endpoint, **args)`` in templates: the URL of a generated list when the user may open it,
    else None (hand-made screens link to the lists of their tables this way)."""
    from flask import current_app, url_for

    def list_url(endpoint: str, **args):
        for admin in current_app.extensions.get("admin", []):
            for view in admin._views:
                if view.endpoint == endpoint:
                    if view.is_accessible():
                        return url_for(f"{endpoint}.index_view", **args)
                    return None
        return None

    return {"list_url": list_url}


@bp.route("/favicon.ico")
def favicon():
    from flask import redirect, url_for

    return redirect(url_for("views.static", filename="favicon.svg"), code=301)


from . import region_lookup  # noqa: E402,F401 - registers /admin/region-lookup on bp


def _theme():
    from flask_admin.theme import Bootstrap4Theme

    return Bootstrap4Theme(swatch="cerulean", fluid=True)
