"""A Babel extraction method for UI strings kept as plain data in the schema and the views.

It yields everything the standard Python extractor finds, plus string literals containing Chinese
that are
- values of the dict keys ``label``, ``description``, ``name``, ``category``, ``help`` (column ``info``,
  ``__admin__``),
- the label of a ``LabeledEnum`` member (``MEMBER = ("value", "标签")`` in a class body),
- the second positional argument of ``enum_column(Enum, "标签")``,
- ``label=`` / ``description=`` keyword arguments,
- module-level UPPER_CASE constants (messages passed to ``_()`` by name).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from babel.messages.extract import extract_python

CJK = re.compile(r"[\u3400-\u9fff]")
DICT_KEYS = {"label", "description", "name", "category", "help"}
KEYWORDS = {"label", "description"}


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value):
        return node.value
    return None


def schema_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every UI string held as data in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in DICT_KEYS and (text := _text(value)):
                    yield value.lineno, text
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "enum_column" and len(node.args) > 1 and (text := _text(node.args[1])):
                yield node.args[1].lineno, text
            for kw in node.keywords:
                if kw.arg in KEYWORDS and (text := _text(kw.value)):
                    yield kw.value.lineno, text
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Tuple)
                        and len(stmt.value.elts) == 2 and (text := _text(stmt.value.elts[1]))):
                    yield stmt.lineno, text
    if isinstance(tree, ast.Module):
        for stmt in tree.body:
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id.isupper()
                    and (text := _text(stmt.value))):
                yield stmt.lineno, text


def extract_schema(fileobj, keywords, comment_tags, options):
    """Babel extraction method: ``[admin_app.translations.extract.extract_schema: models/**.py]``."""
    yield from extract_python(fileobj, keywords, comment_tags, options)
    fileobj.seek(0)
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    for lineno, text in schema_strings(ast.parse(source)):
        yield lineno, None, text, []
