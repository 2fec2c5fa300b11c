"""The National Provider Identifier and its check digit."""

from __future__ import annotations

# Luhn over the NPI prefixed with 80840, the health-industry issuer prefix (CMS's rule).
_ISSUER_PREFIX = "80840"


class NpiError(ValueError):
    """An NPI that cannot be one; the message says why in words a member understands."""


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (its last digit is the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalise_npi(text: str) -> str:
    """The ten digits of an NPI as typed (spaces and dashes allowed), or NpiError."""
    digits = "".join(char for char in text if char not in " -")
    if not digits:
        raise NpiError("Enter your 10-digit NPI.")
    if not digits.isascii() or not digits.isdigit():
        raise NpiError("An NPI has digits only.")
    if len(digits) != 10:
        raise NpiError(f"An NPI has exactly 10 digits; this has {len(digits)}.")
    if digits[0] not in "12":
        raise NpiError("An NPI starts with 1 or 2.")
    if not luhn_valid(_ISSUER_PREFIX + digits):
        raise NpiError(
            "This is not a valid NPI: its last digit (the check digit) does not match. "
            "Check for a mistyped digit."
        )
    return digits


def is_valid_npi(text: str) -> bool:
    """Whether text is a well-formed NPI."""
    try:
        normalise_npi(text)
    except NpiError:
        return False
    return True
