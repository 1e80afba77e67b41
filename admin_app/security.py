"""HTTP hardening: security headers with a per-request CSP nonce, idle session timeout, login throttling."""

from __future__ import annotations

import datetime
import logging
import secrets

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import delete, func, select

from models.base import utcnow

log = logging.getLogger(__name__)


def csp_nonce() -> str:
    """The nonce of this response's inline scripts (one per request)."""
    if not has_request_context():
        return ""
    nonce = g.get("_csp_nonce")
    if nonce is None:
        nonce = g._csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(nonce: str) -> str:
    # Flask-Admin's inline scripts carry the nonce (Admin(csp_nonce_generator=csp_nonce)); inline
    # style attributes are still used by its templates and widgets, hence 'unsafe-inline' for styles only.
    return ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'self'")


class LoginThrottle:
    """Refuses logins after too many failures per username or per address within a window.

    Failures live in the ``login_attempt`` table, so every worker process sees the same count.
    """

    def __init__(self, app: Flask | None = None):
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["login_throttle"] = self

    @staticmethod
    def _limits() -> tuple[int, datetime.timedelta]:
        cfg = current_app.config
        return (int(cfg.get("LOGIN_MAX_FAILURES", 5)),
                datetime.timedelta(seconds=int(cfg.get("LOGIN_FAILURE_WINDOW_SECONDS", 900))))

    def blocked(self, username: str, address: str | None) -> bool:
        from admin_app.extensions import db
        from models.rights import LoginAttempt

        limit, window = self._limits()
        since = utcnow() - window
        recent = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
        if db.session.scalar(recent.where(LoginAttempt.username == _norm(username))) >= limit:
            return True
        return bool(address) and db.session.scalar(
            recent.where(LoginAttempt.address == (address or ""))) >= limit

    def failed(self, username: str, address: str | None) -> None:
        from admin_app.extensions import db
        from models.rights import LoginAttempt

        _, window = self._limits()
        try:
            db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - window))
            db.session.add(LoginAttempt(username=_norm(username), address=(address or "")[:64]))
            db.session.commit()
        except Exception:  # never let bookkeeping turn a refused login into a 500
            db.session.rollback()
            log.exception("could not record a failed login")

    def succeeded(self, username: str, address: str | None) -> None:
        from admin_app.extensions import db
        from models.rights import LoginAttempt

        db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == _norm(username)))
        db.session.commit()


def _norm(username: str) -> str:
    return (username or "").strip()[:40]


def init_app(app: Flask) -> None:
    # Each request re-sends the permanent session cookie, so PERMANENT_SESSION_LIFETIME is an idle timeout.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    LoginThrottle(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
