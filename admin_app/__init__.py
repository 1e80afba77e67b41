"""Application factory of 一部一站 合署办公管理平台."""

from __future__ import annotations

import gc
import os

from flask import Flask, request, session

from .config import CONFIGS, INSTANCE_DIR, resolve_secret_key

_process_started = False  # the first create_app of a process is its start-up (see _start_up)


def create_app(config_override: dict | None = None, *, screens: bool | None = None) -> Flask:
    """The app: database, login, write gate, CLI commands, print routes, and the web screens.

    ``screens`` (the Flask-Admin screens: ``init_screens``) are built unless ``screens=False``, with one
    exception by default: when the ``flask`` command line loads the app to look a command up, they are built
    only if that command needs them (``cli.COMMANDS_WITHOUT_SCREENS``), so ``flask print …`` does not pay
    for 30-odd admin views it never shows. ``flask run``, gunicorn, the job worker and tests get them all.
    """
    global _process_started
    if _process_started:
        return _create_app(config_override, screens)
    _process_started = True
    return _start_up(config_override, screens)


def _start_up(config_override: dict | None, screens: bool | None) -> Flask:
    """The first app of a process, built with the garbage collector paused, its objects then frozen.

    Start-up imports the libraries and builds the app: 90k–135k objects (without / with the screens) that
    live as long as the process, and little garbage (0.5k–2.5k objects, measured). With the collector running, each full collection on the way
    scanned them all again (3 collections, ~0.2 s CPU of a cold one-chart print); frozen (``gc.freeze``),
    later full collections, in every request, skip them too. The start-up garbage stays, once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _create_app(config_override, screens)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _create_app(config_override: dict | None, screens: bool | None) -> Flask:
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

    import printables

    printables.init_app(app)  # the /print routes and the ``flask print`` commands

    @app.route("/")
    def root():
        from flask import redirect, url_for

        return redirect(url_for("admin.index"))

    if screens is None and cli.loading_for_command():
        cli.build_screens_on_demand(app, init_screens)
    elif screens is not False:
        init_screens(app)
    return app


def init_screens(app: Flask) -> None:
    """The web screens: Flask-Admin with every generated and hand-made view, the blueprint of their
    templates and static files, and the 打印中心 screen; warns when Chinese printing would fail."""
    import printables
    import views

    from .extensions import db

    app.register_blueprint(views.bp)
    admin = views.init_admin(app, db)
    printables.init_screens(app, admin)


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
