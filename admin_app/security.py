"""HTTP hardening: security headers with a per-request CSP nonce, ``Cache-Control: no-store`` for signed-in
users, the trusted proxy count, and login throttling.

Login throttling
================

Every attempt writes a ``LoginAttempt`` row (username, address, time) and *commits it before the password
is checked*; only then are the recent rows counted. Whatever order parallel requests run in, the k-th
attempt to commit counts at least k rows, so no burst of parallel guesses gets past a limit (each worker
process and each database sees the same table). A refused attempt deletes its row again, so hammering
during a back-off neither extends it nor adds to the other counters; a successful login deletes the rows
of its (username, address) pair. Three keys, each with its own limit (``admin_app.config``):

* **(username, address)** — progressive back-off. ``LOGIN_FREE_FAILURES`` failures are free; after
  ``n`` failures (remembered for ``LOGIN_BACKOFF_MEMORY_SECONDS``, a day) the next attempt must wait
  ``base * 2^(n - free)`` seconds after the last one, capped at ``LOGIN_BACKOFF_MAX_SECONDS`` (5 min).
  A correct password is refused too while the wait runs, so one address gets about a dozen guesses in
  the first 15 minutes and then one per 5 minutes (under 300 a day); the wait is measured from the last
  failure, so an owner who mistyped and comes back later is not held. The back-off binds only the
  address that failed: the real user, signing in from their own address, is not affected.
* **username, over all addresses** — ``LOGIN_USERNAME_MAX_FAILURES`` within the window, much higher than
  one address can reach under its back-off. It bounds a distributed guess at one account. Reaching it
  takes many addresses, and it is a sliding window, not a lock: it ends as the failures age out, and
  refused attempts do not count.
* **address, over all usernames** — ``LOGIN_ADDRESS_MAX_FAILURES`` within the window, against one address
  trying many usernames (password spraying). It binds that address only: it never locks a user out from
  everywhere. The address is ``request.remote_addr``; ``X-Forwarded-For`` is believed only through
  werkzeug's ``ProxyFix`` with ``PROXY_COUNT`` proxies (default 0: the header is ignored). Behind a proxy
  without ``PROXY_COUNT`` every user shares the proxy's address, so set it.

Unknown usernames are throttled exactly like known ones (the throttle never looks at the user table), and
``admin_app.auth`` checks the password of an unknown or disabled user against a dummy hash made with the
same method, so the answer takes the same time either way.
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
import secrets
from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import case, delete, func, or_, select
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import generate_password_hash

from models.accounts import password_hash_method
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


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(24), method=method)


def dummy_password_hash() -> str:
    """A hash no one knows the password of, made with today's method (checked for unknown usernames)."""
    return _dummy_hash(password_hash_method())


@dataclass
class LoginAttempt:
    """One attempt under way: its row id, and how long to wait when it was refused."""

    username: str
    address: str
    row_id: int | None
    retry_after: int = 0

    @property
    def refused(self) -> bool:
        return self.retry_after > 0


class LoginThrottle:
    """Counts login attempts in the database; see the module docstring for the design."""

    clock = staticmethod(utcnow)  # tests move time forward by replacing it

    def __init__(self, app: Flask | None = None):
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["login_throttle"] = self

    def begin(self, username: str, address: str | None) -> LoginAttempt:
        """Record an attempt, then decide on it. A refused attempt leaves no row behind."""
        from admin_app.extensions import db
        from models.rights import LoginAttempt as Row

        cfg = current_app.config
        window = datetime.timedelta(seconds=int(cfg["LOGIN_FAILURE_WINDOW_SECONDS"]))
        memory = datetime.timedelta(seconds=int(cfg["LOGIN_BACKOFF_MEMORY_SECONDS"]))
        now = self.clock()
        attempt = LoginAttempt(_norm(username), (address or "")[:64], None)
        db.session.execute(delete(Row).where(Row.at < now - max(window, memory)))
        row = Row(username=attempt.username, address=attempt.address, at=now)
        db.session.add(row)
        db.session.flush()
        # Read the id before committing: a parallel successful login may delete this row at once, and
        # reading an expired attribute of a deleted row would raise (a 500 seen with six parallel logins).
        attempt.row_id = row.id
        db.session.commit()  # visible to every other attempt before this one is counted

        in_window = Row.at >= now - window
        same_user, same_addr = Row.username == attempt.username, Row.address == attempt.address
        pair = same_user & same_addr & (Row.id != attempt.row_id) & (Row.at >= now - memory)
        same_user, same_addr = same_user & in_window, same_addr & in_window
        counts = db.session.execute(
            select(func.count(case((pair, 1))), func.max(case((pair, Row.at))),
                   func.count(case((same_user, 1))), func.min(case((same_user, Row.at))),
                   func.count(case((same_addr, 1))), func.min(case((same_addr, Row.at))))
            .where(Row.at >= now - max(window, memory), or_(Row.username == attempt.username,
                                                            Row.address == attempt.address))).one()
        pair_failures, pair_last, user_count, user_oldest, addr_count, addr_oldest = counts

        waits = []
        free = int(cfg["LOGIN_FREE_FAILURES"])
        if pair_failures >= free and pair_last is not None:
            delay = min(float(cfg["LOGIN_BACKOFF_BASE_SECONDS"]) * 2 ** min(pair_failures - free, 30),
                        float(cfg["LOGIN_BACKOFF_MAX_SECONDS"]))
            waits.append(pair_last + datetime.timedelta(seconds=delay) - now)
        if user_count > int(cfg["LOGIN_USERNAME_MAX_FAILURES"]):
            waits.append(max(user_oldest + window - now, _SECOND))
        if addr_count > int(cfg["LOGIN_ADDRESS_MAX_FAILURES"]):
            waits.append(max(addr_oldest + window - now, _SECOND))
        wait = max((w.total_seconds() for w in waits), default=0.0)
        if wait > 0:
            attempt.retry_after = max(1, math.ceil(wait))
            db.session.execute(delete(Row).where(Row.id == attempt.row_id))
            db.session.commit()
            log.warning("login throttled for %r from %s (%s s)", attempt.username, attempt.address,
                        attempt.retry_after)
        return attempt

    def succeeded(self, attempt: LoginAttempt) -> None:
        """Forget the failures of this username from this address (committed with the login)."""
        from admin_app.extensions import db
        from models.rights import LoginAttempt as Row

        db.session.execute(delete(Row).where(Row.username == attempt.username,
                                             Row.address == attempt.address))


_SECOND = datetime.timedelta(seconds=1)


def _norm(username: str) -> str:
    return (username or "").strip().casefold()[:40]


NO_STORE_PATHS = ("/admin", "/print")  # every screen, list, export and print of the back office


def _no_store(response):
    """Pages and files of a signed-in user hold personal data: never keep them in any cache."""
    from flask_login import current_user

    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return response
    if request.path.startswith(NO_STORE_PATHS) and current_user and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
        response.headers.pop("ETag", None)
    return response


def init_app(app: Flask) -> None:
    # Each request re-sends the permanent session cookie, so PERMANENT_SESSION_LIFETIME is an idle timeout.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # The last `proxies` entries of X-Forwarded-For / -Proto are ours; anything before them is the
        # client's word and never believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    LoginThrottle(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
        response.headers.setdefault("X-Frame-Options", "DENY")
        return _no_store(response)
