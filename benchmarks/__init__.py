"""Interleaved A/B benchmarks of the IdP simulator against baselines measured in the same run.

Run from the repository root: ``.venv/bin/python -m benchmarks`` (``--help`` for options).
See ``benchmarks/__main__.py`` for what each row measures.
"""
