"""Verification tests sign in with TOTP codes, so each starts early in a fresh TOTP step."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clock(early_in_a_totp_step: None) -> None:
    """See tests/conftest.py: early_in_a_totp_step."""
