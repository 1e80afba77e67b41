"""Reads of personal data that leave the screen (exports, prints) are recorded in the audit log.

One row per export or print: who (the logged-in user), what (``table_name`` of the model, the kind in
``action``: "export" / "print"), when (``at``) and how many rows (``summary`` and ``after.rows``).
"""

from __future__ import annotations

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import insert

from admin_app.extensions import db
from models import AuditLog
from models.base import utcnow


def _region_id() -> int | None:
    """The region the entry is filed under: the user's widest grant (so their supervisors see it)."""
    from admin_app.scope import current_scope

    grants = sorted(current_scope().grants, key=lambda g: len(g.path))
    return grants[0].region_id if grants else None


def record_access(kind: str, model_name: str, count: int, detail: str = "") -> None:
    """Write an audit row for an export or print of ``count`` rows of ``model_name`` now.

    A core INSERT on the session's connection, committed at once (the download itself changes nothing
    else), inside the request, with the logged-in user as the actor.
    """
    from admin_app.privacy import _model_class

    model = _model_class(model_name)
    table = AuditLog.__table__
    user = current_user if has_request_context() and current_user.is_authenticated else None
    values = {
        "at": utcnow(), "user_id": user.id if user else None, "action": kind[:10],
        "table_name": getattr(model, "__tablename__", model_name)[:40], "row_id": None,
        "region_id": _region_id() if user else None,
        "summary": f"{kind} {count} 行 {detail}".strip()[:200],
        "before": None, "after": {"rows": count, **({"detail": detail} if detail else {})},
        "actor": (user.username if user else "system")[:60],
    }
    # On the connection, as the gate writes its own audit rows: a read is no ORM change to check.
    db.session.connection().execute(insert(table).values({k: v for k, v in values.items() if k in table.c}))
    db.session.commit()
