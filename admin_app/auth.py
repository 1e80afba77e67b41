"""Login, logout and the user loader; sessions that end on the server.

A session names the user *and* their ``session_version`` (``User.get_id()`` is ``"id:version"``). The
loader refuses a session whose version is not the user's current one, or whose user is disabled. A logout
(POST only), a password change and a deactivation bump the version, so every copy of an earlier session
cookie stops working at once, in every worker.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import event, select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from models import User
from models.accounts import UNUSABLE_PASSWORD
from models.base import utcnow

from .extensions import db, login_manager
from .security import dummy_password_hash

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名")), Length(max=40)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码")), Length(max=200)])


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session "id:version", or None when the session has been ended since."""
    user_id, sep, version = (session_id or "").partition(":")
    if not sep or not user_id.isdigit() or not version.isdigit() or len(user_id) > 18:
        return None  # also every session from before session versions existed
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or (user.session_version or 0) != int(version):
        return None
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session of ``user`` (in every browser and worker) when this change is committed."""
    user.session_version = (user.session_version or 0) + 1


@event.listens_for(User.active, "set", active_history=True)
def _end_sessions_on_deactivation(target: User, value, oldvalue, initiator) -> None:
    if oldvalue is True and not value:
        end_sessions(target)


@event.listens_for(User.password_hash, "set", active_history=True)
def _end_sessions_on_password_change(target: User, value, oldvalue, initiator) -> None:
    if isinstance(oldvalue, str) and value != oldvalue:  # not for a new account's first password
        end_sessions(target)


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None.

    Exactly one password hash is checked whatever the outcome: an unknown username, a disabled account
    or one without a password is checked against a dummy hash of the same method, so the time a refusal
    takes does not tell which usernames exist.
    """
    user = db.session.scalars(select(User).where(User.username == username)).first()
    usable = user is not None and user.active and user.password_hash not in ("", None, UNUSABLE_PASSWORD)
    matches = check_password_hash(user.password_hash if usable else dummy_password_hash(), password)
    return user if usable and matches else None


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        throttle = current_app.extensions["login_throttle"]
        attempt = throttle.begin(username, request.remote_addr)
        if attempt.refused:
            form.username.errors.append(_("登录失败次数过多,请 %(seconds)s 秒后再试", seconds=attempt.retry_after))
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        user = authenticate(username, form.password.data)
        if user is not None:
            throttle.succeeded(attempt)
            session.clear()
            login_user(user)
            session.permanent = True
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        log.info("failed login for %r from %s", username, request.remote_addr)
        form.password.errors.append(_l("用户名或密码错误"))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this session and every copy of it (POST with the CSRF token only; a GET is 405)."""
    user = current_user._get_current_object()
    for _try in range(2):
        try:
            end_sessions(user)
            db.session.commit()
            break
        except StaleDataError:  # the account row changed meanwhile: reload it and bump again
            db.session.rollback()
    else:
        log.error("could not end the sessions of %r on logout", user.username)
    logout_user()
    session.clear()
    flash(_l("已退出登录"), "info")
    return redirect(url_for("auth.login"))
