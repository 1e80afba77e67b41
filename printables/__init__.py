"""Printables: the schema turned into paper (wall chart, duty table, annual plan, rosters).

``init_app`` registers the /print routes and the ``flask print`` CLI group; ``init_screens`` (with the
web screens) adds the 打印 menu screen and warns at start-up when Chinese printing would fail (missing
font or subsetting library). The ``flask print`` commands check that themselves when they print.
"""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    from .cli import print_cli
    from .web import bp

    app.register_blueprint(bp)
    app.cli.add_command(print_cli)


def init_screens(app: Flask, admin) -> None:
    from flask_babel import lazy_gettext as _l

    from .render import environment_problems
    from .web import PrintView

    # Under 打印 in the menu, beside 打印设置 (views/factory.py MENU_ORDER).
    admin.add_view(PrintView(name=_l("打印中心"), category=_l("打印"), endpoint="print_menu",
                             url="/admin/print"))
    for problem in environment_problems():
        log.warning("printing is unavailable: %s", problem)
