"""Extensions, created uninitialised; ``create_app`` binds them to an app."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from models import Base

from .lazy_migrate import LazyMigrate

db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()  # Flask-Migrate, loaded (with Alembic) only when a migration runs
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def enforce_sqlite_foreign_keys(engine) -> None:
    """SQLite ignores foreign keys unless asked per connection; ask, so it behaves like PostgreSQL.
    A file database also runs in WAL mode: readers (the job list polling a running import, every other
    page) go on while one writer holds a long transaction, instead of getting "database is locked"."""
    from sqlalchemy import event

    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine.url.database not in (None, "", ":memory:") and "mode=memory" not in str(engine.url):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
