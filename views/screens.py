"""The one base class of hand-made screens: login, the right they need, 404 otherwise.

A screen names the model and action it is about (``access_model``, ``access_action``) or overrides
``allowed()``; an anonymous user is sent to the login page, a user without the right gets 404 like a row
outside the scope (existence is not revealed). Rows and regions come from ``admin_app.scope``.
"""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_admin import BaseView
from flask_login import current_user

from admin_app.scope import VIEW, current_scope


class ScopedScreen(BaseView):
    access_model: str | None = "Region"
    access_action: str = VIEW

    def allowed(self) -> bool:
        """Does the logged-in user have this screen? (menu entry and every route)"""
        return self.access_model is None or current_scope().can(self.access_model, self.access_action)

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and self.allowed()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(404)


def find_view(app, endpoint, kind: type = BaseView):
    """The admin screen registered under ``endpoint`` that is a ``kind``, or None (a job names its screen
    by endpoint: an unknown or forged one finds nothing)."""
    for admin in app.extensions.get("admin", ()):
        for view in admin._views:
            if isinstance(view, kind) and view.endpoint == endpoint:
                return view
    return None
