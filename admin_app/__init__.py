"""Application factory of 一部一站 合署办公管理平台."""

from __future__ import annotations

import os

from flask import Flask, request, session

from .config import CONFIGS, INSTANCE_DIR, resolve_secret_key


def create_app(config_override: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    env = os.environ.get("APP_ENV", "production")
    app.config.from_object(CONFIGS.get(env, CONFIGS["production"]))
    if config_override:
        app.config.update(config_override)
    app.config["SECRET_KEY"] = resolve_secret_key(env if env in CONFIGS else "production", app.config,
                                                  config_override)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

    from .extensions import babel, csrf, db, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        from .extensions import enforce_sqlite_foreign_keys

        enforce_sqlite_foreign_keys(db.engine)
    migrate.init_app(app, db, directory=str(INSTANCE_DIR.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from . import auth, cli, errors, gate, ops, security

    app.register_blueprint(auth.bp)
    gate.init_app(app)
    ops.init_app(app)
    security.init_app(app)
    errors.init_app(app)  # bad input is a 4xx with a Chinese message, never a 500
    cli.init_app(app)

    import views

    app.register_blueprint(views.bp)
    views.init_admin(app, db)
    _register_optional(app)

    @app.route("/")
    def root():
        from flask import redirect, url_for

        return redirect(url_for("admin.index"))

    return app


def _register_optional(app: Flask) -> None:
    """Feature blueprints (printing, duties) register themselves here when present."""
    try:
        import printables
    except ImportError:  # pragma: no cover - printables is part of the layout
        return
    init = getattr(printables, "init_app", None)
    if init is not None:
        init(app)


def select_locale() -> str:
    from flask import current_app, has_request_context

    if not has_request_context():  # CLI commands and background work use the default locale
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    wanted = request.args.get("lang")
    if wanted in current_app.config["LANGUAGES"]:
        session["lang"] = wanted
    lang = session.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        return lang
    return current_app.config["BABEL_DEFAULT_LOCALE"]
