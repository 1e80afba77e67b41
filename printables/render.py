"""The one PDF renderer: HTML → PDF bytes with WeasyPrint, fetching nothing but our own assets.

``render_pdf`` is the only place that calls WeasyPrint. Its URL fetcher serves the files of
``printables/static`` under the ``asset:`` scheme and refuses everything else (``file:``, ``http(s):``,
``data:``...), so text a user typed can never make the renderer read a file or call a host.
"""

from __future__ import annotations

import ctypes.util
import functools
import gc
import logging
import mimetypes
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

STATIC_DIR = (Path(__file__).parent / "static").resolve()
ASSET_SCHEME = "asset:"
FONT_FAMILY = "Noto Sans CJK SC"
HARFBUZZ_MISSING = ("缺少字体子集库 libharfbuzz-subset0(请执行 apt-get install libharfbuzz-subset0),"
                    "否则打印一页需要数十秒")


class PrintEnvironmentError(RuntimeError):
    """The machine cannot print proper Chinese type; the message (Chinese) names what to install."""


class RefusedURL(ValueError):
    """A URL the renderer will not fetch."""


def asset_url(name: str) -> str:
    return ASSET_SCHEME + name


def fetch_asset(url: str, refused: list[str] | None = None) -> tuple[bytes, str | None]:
    """Serve ``asset:<file in printables/static>``; anything else raises RefusedURL (and is recorded)."""
    if url.startswith(ASSET_SCHEME):
        name = url[len(ASSET_SCHEME):]
        path = (STATIC_DIR / name).resolve()
        if path.parent == STATIC_DIR and path.is_file():
            return path.read_bytes(), mimetypes.guess_type(path.name)[0]
    if refused is not None:
        refused.append(url)
    log.warning("printables: refused to fetch %.200s", url)
    raise RefusedURL(f"refused to fetch {url[:200]!r}")


@functools.cache
def weasyprint():
    """The ``weasyprint`` module, imported without its library search running a compiler.

    For each C library (Pango, HarfBuzz, fontconfig...) WeasyPrint tries a list of names, and cffi hands
    every name it cannot ``dlopen`` as given to ``ctypes.util.find_library``, which on Linux runs
    ``ldconfig -p``, then ``gcc`` and ``ld``: 85 processes per import, measured 0.2 s CPU and 0.5–1.5 s
    wall of a cold print on the busy 2-core machine. Each list also holds the soname
    (``libpango-1.0.so.0``) that ``dlopen`` finds by itself, which is what ``find_library`` would have
    answered: so while this thread imports WeasyPrint, ``find_library`` answers None at once. Should a
    library still be missing (a platform naming it otherwise), the import is done again the stock way.
    """
    if "weasyprint" in sys.modules:
        return sys.modules["weasyprint"]
    stock, importer = ctypes.util.find_library, threading.get_ident()

    def find_library(name):
        return None if threading.get_ident() == importer else stock(name)

    ctypes.util.find_library = find_library
    collecting = gc.isenabled()
    gc.disable()  # the import allocates ~37k objects that live as long as the process, no garbage
    try:
        import weasyprint
    except OSError:
        for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
            del sys.modules[name]
        ctypes.util.find_library = stock
        import weasyprint
    finally:
        ctypes.util.find_library = stock
        if collecting:
            gc.enable()
    return weasyprint


def _asset_fetcher(refused: list[str] | None):
    """A WeasyPrint URLFetcher whose ``fetch`` is ``fetch_asset`` (the network/file handlers never run)."""
    weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            body, mime = fetch_asset(url, refused)
            return URLFetcherResponse(url, body, headers={"Content-Type": mime or "application/octet-stream"})

    return AssetFetcher(allowed_protocols=("asset",), allow_redirects=False)


@functools.cache
def environment_problems() -> tuple[str, ...]:
    """What is missing for Chinese printing (empty when all is well). Checked once per process.

    Cheap enough for start-up: the subsetting library is looked up with ``ctypes`` (importing WeasyPrint
    would add a second to every start); ``check_environment`` also asks WeasyPrint itself at print time.
    """
    problems = []
    if ctypes.util.find_library("harfbuzz-subset") is None:
        problems.append(HARFBUZZ_MISSING)
    if not _font_installed(FONT_FAMILY):
        problems.append(f"缺少中文字体“{FONT_FAMILY}”(请执行 apt-get install fonts-noto-cjk),"
                        "否则中文会打印成方框")
    return tuple(problems)


def _weasyprint_has_harfbuzz_subset() -> bool:
    weasyprint()
    try:
        from weasyprint.text.ffi import harfbuzz_subset
    except ImportError:  # pragma: no cover - other WeasyPrint versions
        return True
    return harfbuzz_subset is not None


def _font_installed(family: str) -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        out = subprocess.run([fc_list, f":family={family}", "family"], capture_output=True,  # noqa: S603
                             text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return family in out


def check_environment() -> None:
    """Raise PrintEnvironmentError (Chinese message) when fonts or the subsetting library are missing."""
    problems = list(environment_problems())
    if HARFBUZZ_MISSING not in problems and not _weasyprint_has_harfbuzz_subset():
        problems.insert(0, HARFBUZZ_MISSING)
    if problems:
        raise PrintEnvironmentError("无法打印:" + ";".join(problems) + "。请联系系统管理员。")


@functools.cache
def _font_config():
    weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def render_documents(htmls: Sequence[str], refused: list[str] | None = None) -> list:
    """Lay out HTML strings into WeasyPrint documents (not yet written)."""
    check_environment()
    HTML = weasyprint().HTML  # noqa: N806 - WeasyPrint's class
    fetcher = _asset_fetcher(refused)
    return [HTML(string=html, base_url=ASSET_SCHEME, url_fetcher=fetcher).render(font_config=_font_config())
            for html in htmls]


def render_pdf(html: str | Sequence[str], *, refused: list[str] | None = None) -> bytes:
    """Render one HTML string (or several, as consecutive pages of one file) to PDF bytes.

    Several HTML strings become one PDF with each font embedded (and subset) once.
    ``refused`` collects the URLs the fetcher turned down (for tests and logs).
    """
    htmls = [html] if isinstance(html, str) else list(html)
    docs = render_documents(htmls, refused)
    doc = docs[0]
    if len(docs) > 1:
        doc = doc.copy([page for d in docs for page in d.pages])
    return doc.write_pdf()
