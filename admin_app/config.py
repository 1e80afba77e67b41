"""Configuration classes; everything can be overridden from the environment."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


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
    LOGIN_MAX_FAILURES = 5
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    PASSWORD_HASH_METHOD = "scrypt"
    PRINT_WORKERS = int(os.environ.get("PRINT_WORKERS", 2))
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    DEBUG = True
    # A stable key for local development only; production must set SECRET_KEY.
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("TEST_DATABASE_URL") or "sqlite://")


CONFIGS = {"production": Config, "development": DevelopmentConfig, "testing": TestingConfig}
