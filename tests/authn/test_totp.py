"""RFC 6238 codes: one step of drift, each code once."""

from __future__ import annotations

import pyotp

from idp.authn.totp import TotpGuard
from tests.support.demo import CAROL_SECRET


def test_totp_accepts_one_step_of_drift_but_not_two(clock, store):
    """RFC 6238 §5.2: the previous step is still accepted; older ones are not."""
    guard = TotpGuard(clock, store)
    old = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    clock.advance(30)
    assert guard.check("u1", CAROL_SECRET, old) is None
    clock.advance(60)
    assert guard.check("u2", CAROL_SECRET, old) == "invalid"
    assert guard.check("u3", CAROL_SECRET, "12ab56") == "invalid"
