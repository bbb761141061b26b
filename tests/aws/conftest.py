"""The in-process STS API for the ``idp.aws`` tests."""

from __future__ import annotations

import pytest

from idp.aws.sts import Sts
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import StateStore
from tests.support import builders


@pytest.fixture
def sts(settings: Settings, directory: Directory, keypair: KeyPair, clock: FixedClock,
        store: StateStore) -> Sts:
    """The STS API (demo directory, this run's key) with replay protection on a real state
    file, fresh per test."""
    return builders.sts(settings, directory, keypair, clock, replay=store)
