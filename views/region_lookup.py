"""The region filter of the lists as a lookup: regions are searched as the user types.

A province holds ~2,000 townships; embedding them all in every list page (the filter's options) made each
page 70 KB heavier. ``ScopedRegionFilter`` (views/base.py) now has no options: the page asks this
endpoint, which answers only regions inside the user's scope, in the ``[[id, label], …]`` form of
Flask-Admin's ajax lookups (select2, ``views/static/region_filter.js``).
"""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_login import current_user
from sqlalchemy import or_, select

from admin_app.extensions import db
from admin_app.scope import VIEW, current_scope
from models import Region
from models.enums import RegionLevel

from . import bp

LOOKUP_LIMIT = 20
LEVELS = {level.value for level in RegionLevel}


def _escaped(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.route("/admin/region-lookup")
def region_lookup():
    """Regions in the user's scope whose name or code contains ``query`` (or the one ``id``)."""
    if not current_user.is_authenticated:
        abort(404)
    stmt = select(Region.id, Region.name, Region.code).order_by(Region.code)
    ids = current_scope().region_ids(VIEW, "Region")
    if ids is not None:
        stmt = stmt.where(Region.id.in_(ids))
    levels = [lv for lv in request.args.get("levels", "").split(",") if lv in LEVELS]
    if levels:
        stmt = stmt.where(Region.level.in_(levels))
    ident = request.args.get("id", "")
    if ident:
        if not ident.isdigit() or len(ident) > 18:
            return jsonify([])
        stmt = stmt.where(Region.id == int(ident))
    else:
        term = request.args.get("query", "").strip()[:40]
        if term:
            like = f"%{_escaped(term)}%"
            stmt = stmt.where(or_(Region.name.like(like, escape="\\"), Region.code.like(like, escape="\\")))
    try:
        offset = max(0, min(int(request.args.get("offset", 0)), 100_000))
        limit = max(1, min(int(request.args.get("limit", LOOKUP_LIMIT)), LOOKUP_LIMIT))
    except ValueError:
        offset, limit = 0, LOOKUP_LIMIT
    rows = db.session.execute(stmt.offset(offset).limit(limit)).all()
    resp = jsonify([[row.id, f"{row.name}({row.code})"] for row in rows])
    resp.headers["Cache-Control"] = "no-store"
    return resp
