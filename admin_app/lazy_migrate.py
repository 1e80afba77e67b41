"""Flask-Migrate without importing Alembic until a migration runs.

Importing ``flask_migrate`` imports Alembic (~0.4 s of a cold start) although no request and no other
command needs it. ``LazyMigrate.init_app`` records the same configuration Flask-Migrate's ``init_app``
does (``app.extensions["migrate"]``, read by ``migrations/env.py`` and by ``flask_migrate.upgrade()``
and friends) and registers a ``db`` command group that loads ``flask_migrate.cli`` on first use.
"""

from __future__ import annotations

from functools import cached_property

import click
from flask import Flask


class LazyMigrateConfig:
    """What ``flask_migrate.Migrate.init_app`` puts in ``app.extensions["migrate"]``, built on demand."""

    def __init__(self, db, directory: str, **configure_args):
        self.db = db
        self.directory = directory
        self.configure_args = configure_args

    @cached_property
    def migrate(self):
        from flask_migrate import Migrate

        return Migrate(db=self.db, directory=self.directory, **self.configure_args)

    @property
    def metadata(self):
        return self.db.metadata


class LazyDbGroup(click.Group):
    """Stands for ``flask_migrate.cli.db`` in ``flask --help``; the real group parses and runs the command."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations (Flask-Migrate / Alembic).")

    @staticmethod
    def real() -> click.Group:
        from flask_migrate.cli import db

        return db

    def make_context(self, info_name, args, parent=None, **extra):
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx):
        return self.real().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        return self.real().get_command(ctx, cmd_name)


class LazyMigrate:
    """Drop-in for ``flask_migrate.Migrate()`` as used in ``create_app``: ``init_app(app, db, directory=…)``."""

    def init_app(self, app: Flask, db, directory: str, **configure_args) -> None:
        app.extensions["migrate"] = LazyMigrateConfig(db, str(directory), **configure_args)
        app.cli.add_command(LazyDbGroup())
