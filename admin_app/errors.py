"""Bad input never answers 500: database refusals of a value become a 4xx with a Chinese message.

Forms check values first (``views.factory`` bounds every integer, decimal and text field), so these
handlers are the net under every other path: a value the database refuses (out of range, a NUL byte
in text on PostgreSQL, an integer past 64 bits on SQLite), a row changed by someone else at the same
time, a request body past ``MAX_CONTENT_LENGTH``. Each rolls the session back, so nothing half-done is
committed later in the request.
"""

from __future__ import annotations

import logging

from flask import Flask, request
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

BAD_VALUE = "提交的内容超出允许范围或含有无效字符,未保存任何修改"
CONFLICT = "数据与已有记录冲突,或已被他人同时修改,未保存任何修改。请刷新页面后重试"
TOO_LARGE = "提交的内容过大(上限 %(mb)s MB),请拆分后重试"


def _rollback() -> None:
    from admin_app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the answer matters more than a failed rollback
        log.warning("rollback after a refused value failed", exc_info=True)


def error_page(message: str, status: int):
    """A small Chinese page (or plain text for non-HTML clients) with the message and a way back."""
    back = _("返回首页")
    body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{escape(message)}</title>'
            f'<body><p role="alert">{escape(message)}</p>'
            f'<p><a href="/">{escape(back)}</a></p></body></html>')
    if request.accept_mimetypes.best == "application/json":
        return {"error": message}, status
    return body, status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def _bad_value(exc):
    _rollback()
    log.info("refused a value the database cannot hold: %s", exc.__class__.__name__, exc_info=True)
    return error_page(_(BAD_VALUE), 400)


def _conflict(exc):
    _rollback()
    log.info("conflicting write refused: %s", exc.__class__.__name__)
    return error_page(_(CONFLICT), 409)


def _statement_error(exc: StatementError):
    """A DBAPI data error (value out of range, NUL byte) or a value the driver cannot bind → 400.

    Other database errors (connection lost, a bug in a query) stay 500s: they are not the user's input.
    """
    if isinstance(exc, IntegrityError):
        return _conflict(exc)
    if isinstance(exc, DataError) or not isinstance(exc, DBAPIError):
        return _bad_value(exc)
    if _is_value_error(exc.orig):
        return _bad_value(exc)
    raise exc


def _is_value_error(orig) -> bool:
    """PostgreSQL's SQLSTATE class 22 is "data exception" (numeric out of range, NUL in text, …)."""
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return bool(state) and str(state).startswith("22")


def _overflow(exc: OverflowError):
    # SQLite's driver refuses an integer past 64 bits with a bare OverflowError.
    return _bad_value(exc)


def _too_large(exc):
    mb = max(1, int((request.max_content_length or 0) / (1024 * 1024)))
    return error_page(_(TOO_LARGE, mb=mb), 413)


HTTP_MESSAGES = {
    400: "请求无效,请返回上一页检查后重试",
    404: "页面不存在,或不在您的授权范围内",
    405: "不支持此操作方式",
}


def _http_error(exc: HTTPException):
    """400 / 404 / 405 in Chinese (Werkzeug's pages are English). More specific handlers (the CSRF
    error, the write gate) still win, as Flask picks the handler of the nearest class."""
    message = HTTP_MESSAGES.get(exc.code or 500)
    if message is None:
        return exc
    return error_page(_(message), exc.code)


def _refuse_nul_in_url():
    """A NUL byte in the path or the query string (``%00``) is never valid input; PostgreSQL refuses it in
    any text parameter, which made every such URL a 500."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v
                                      for k, v in request.args.items(multi=True)):
        return error_page(_("网址中含有无效字符"), 400)
    return None


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul_in_url)
    for code in HTTP_MESSAGES:
        app.register_error_handler(code, _http_error)
    app.register_error_handler(StatementError, _statement_error)
    app.register_error_handler(StaleDataError, _conflict)
    app.register_error_handler(OverflowError, _overflow)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
