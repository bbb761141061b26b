"""Signing and verifying, now rows of ``python -m benchmarks`` (kept for old command lines).

Run: ``.venv/bin/python benchmarks/bench_sign.py [--rounds N]``, the same as
``.venv/bin/python -m benchmarks --only mint,verify [--rounds N]``: ``IdentityProvider.respond()``
against a raw RSA signature, and ``verify_response`` against signxml, interleaved A/B.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.__main__ import main

    sys.exit(main(["--only", "mint,verify", *sys.argv[1:]]))
