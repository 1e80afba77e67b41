"""Command-line interface: ``flask --app admin_app <command>``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register CLI command groups."""
