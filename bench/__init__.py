"""Benchmarks: each ``bench/bench_*.py`` module has a ``main()`` that prints its figures.

Run them all with ``make bench`` (``python -m bench``) or a selection with ``python -m bench NAME ...``.
"""
