"""Configuration classes; everything can be overridden from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


# Signs development sessions only; refused whenever APP_ENV is production (``resolve_secret_key``).
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 16


def _sqlite_default() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'yibuyizhan.db'}"


def normalise_database_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and make SQLAlchemy use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL") or _sqlite_default())
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_Hans_CN": "简体中文", "en": "English"}
    # Compiled by `make translations` (pybabel compile); msgids are the Chinese text.
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "admin_app" / "translations")
    FLASK_ADMIN_SWATCH = "cerulean"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = int(os.environ.get("IDLE_TIMEOUT_SECONDS", 1800))  # idle timeout
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
    # Login throttling (admin_app.security.LoginThrottle): failures count within the window.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024  # a request body (an upload) above this answers 413
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    LOGIN_FREE_FAILURES = 3  # per username and address, before the back-off starts
    LOGIN_BACKOFF_BASE_SECONDS = 1  # then wait base * 2^(failures - free) seconds after the last failure
    LOGIN_BACKOFF_MAX_SECONDS = 300
    LOGIN_BACKOFF_MEMORY_SECONDS = 24 * 60 * 60  # how long a pair's failures count for its back-off
    LOGIN_USERNAME_MAX_FAILURES = 100  # per username over all addresses, within the window
    LOGIN_ADDRESS_MAX_FAILURES = 50  # per address over all usernames, within the window
    # Reverse proxies in front of the app that append to X-Forwarded-For (werkzeug ProxyFix); 0 trusts none.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", 0))
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
    PRINT_WORKERS = int(os.environ.get("PRINT_WORKERS", 2))
    # Background jobs (admin_app/jobs.py): the Huey queue. Empty = SQLite file in instance/ (embedded);
    # redis://host:6379/0 in production, shared by every web and worker machine.
    JOBS_URL = os.environ.get("JOBS_URL", "")
    JOBS_QUEUE = os.environ.get("JOBS_QUEUE", "yibuyizhan")
    JOBS_DIR = os.environ.get("JOBS_DIR") or str(INSTANCE_DIR / "jobs")  # result files; shared by all machines
    EXPORT_SYNC_ROWS = int(os.environ.get("EXPORT_SYNC_ROWS", 5000))  # a list export above this is a job
    # An import file with more data rows than this is checked and written by a job (views/importer.py);
    # 10,000 rows take about 10 s in two requests (preview, confirm), well inside the worker timeout.
    IMPORT_SYNC_ROWS = int(os.environ.get("IMPORT_SYNC_ROWS", 10000))
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    DEBUG = True
    # A stable key for local development only; production must set SECRET_KEY.
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("TEST_DATABASE_URL") or "sqlite://")


CONFIGS = {"production": Config, "development": DevelopmentConfig, "testing": TestingConfig}


def resolve_secret_key(env: str, app_config, override: dict | None = None) -> str:
    """The session signing key, or RuntimeError when production lacks a real one.

    Precedence: ``create_app``'s override, then ``SECRET_KEY`` from the environment as it is now, then the
    config class. With ``APP_ENV=production`` (also the default and any unknown value) the key must be set,
    must not be the development key and must be at least ``MIN_SECRET_KEY_LENGTH`` characters. The only
    exception is an app built in code with ``TESTING`` and no key at all (test suites): it gets a random
    key for this process, never the development key.
    """
    key = (override or {}).get("SECRET_KEY") or os.environ.get("SECRET_KEY") or app_config.get("SECRET_KEY")
    if env in ("development", "testing"):
        return key or DEV_SECRET_KEY
    if not key:
        if app_config.get("TESTING"):
            return secrets.token_hex(32)
        raise RuntimeError("SECRET_KEY is not set; export SECRET_KEY (e.g. `openssl rand -hex 32`) "
                           "before starting the server")
    if key == DEV_SECRET_KEY:
        raise RuntimeError("SECRET_KEY is the development key; production needs its own secret key")
    if len(key) < MIN_SECRET_KEY_LENGTH and not app_config.get("TESTING"):
        raise RuntimeError(f"SECRET_KEY is too short (at least {MIN_SECRET_KEY_LENGTH} characters); "
                           "use e.g. `openssl rand -hex 32`")
    return key
