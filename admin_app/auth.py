"""Login, logout and the user loader."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from models import User
from models.base import utcnow

from .extensions import db, login_manager

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名")), Length(max=40)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码")), Length(max=200)])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


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
        throttle = current_app.extensions.get("login_throttle")
        if throttle is not None and throttle.blocked(username, request.remote_addr):
            current_app.logger.warning("login throttled for %r from %s", username, request.remote_addr)
            form.username.errors.append(_l("登录失败次数过多,请 15 分钟后再试"))
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is not None and user.active and user.check_password(form.password.data):
            if throttle is not None:
                throttle.succeeded(username, request.remote_addr)
            session.clear()
            login_user(user)
            session.permanent = True
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        if throttle is not None:
            throttle.failed(username, request.remote_addr)
        current_app.logger.info("failed login for %r from %s", username, request.remote_addr)
        form.password.errors.append(_l("用户名或密码错误"))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash(_l("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/healthz")
def healthz():
    db.session.execute(select(1))
    return {"status": "ok"}
