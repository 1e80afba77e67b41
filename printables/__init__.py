"""Printables: the schema turned into paper (wall chart, duty table, annual plan, rosters).

``init_app`` registers the /print routes, the 打印 menu screen and the ``flask print`` CLI group, and
warns at start-up when Chinese printing would fail (missing font or subsetting library).
"""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    from .cli import print_cli
    from .render import environment_problems
    from .web import PrintView, bp

    app.register_blueprint(bp)
    app.cli.add_command(print_cli)
    admins = app.extensions.get("admin", [])
    if admins:
        from flask_babel import lazy_gettext as _l

        # Under 打印 in the menu, beside 打印设置 (views/factory.py MENU_ORDER).
        admins[0].add_view(PrintView(name=_l("打印中心"), category=_l("打印"), endpoint="print_menu",
                                     url="/admin/print"))
    for problem in environment_problems():
        log.warning("printing is unavailable: %s", problem)
