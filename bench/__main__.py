"""Discover and run every ``bench/bench_*.py`` module's ``main()`` in turn.

``python -m bench`` runs them all; ``python -m bench print list`` runs the modules whose names contain
one of the words. A failing benchmark is reported and makes the exit status non-zero; the others still run.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def discover(selection: list[str] | None = None) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE_DIR)]) if m.name.startswith("bench_"))
    if selection:
        names = [n for n in names if any(word in n for word in selection)]
    return names


def run(names: list[str]) -> int:
    failures = 0
    for name in names:
        print(f"== bench.{name} ==", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            main = getattr(module, "main", None)
            if main is None:
                raise AttributeError(f"bench.{name} has no main()")
            main()
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            failures += 1
            traceback.print_exc()
            print(f"-- bench.{name} FAILED", flush=True)
        else:
            print(f"-- bench.{name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return failures


def cli(argv: list[str]) -> int:
    names = discover(argv)
    if not names:
        print("no benchmark modules found (bench/bench_*.py)" + (f" matching {argv}" if argv else ""))
        return 1 if argv else 0
    failures = run(names)
    print(f"{len(names) - failures} of {len(names)} benchmark modules ran", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
