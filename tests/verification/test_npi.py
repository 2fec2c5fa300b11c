"""The NPI check digit: Luhn over 80840 and the ten digits, with a message a member understands."""

from __future__ import annotations

import pytest

from forum.verification.npi import NpiError, is_valid_npi, luhn_valid, normalise_npi

# The sample NPPES file's eleven NPIs (../shared/nppes/README.md), all well formed.
SAMPLE_NPIS = [
    "1679576722",
    "1588667638",
    "1497758544",
    "1306849450",
    "1215930367",
    "1023011178",
    "1932102084",
    "1841293990",
    "1750384806",
    "1669475711",
    "1063947125",
]


def check_digit(first_nine: str) -> str:
    """CMS's worked method: double alternate digits from the right, add 24 for 80840, round up."""
    total = 24
    for position, char in enumerate(reversed(first_nine)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def test_the_cms_worked_example_is_well_formed() -> None:
    assert normalise_npi("1234567893") == "1234567893"
    assert is_valid_npi("1234567893")


def test_the_cms_example_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(NpiError, match="check digit"):
        normalise_npi("1234567890")
    assert not is_valid_npi("1234567890")


@pytest.mark.parametrize("npi", SAMPLE_NPIS)
def test_every_npi_of_the_sample_registry_file_is_valid(npi: str) -> None:
    assert normalise_npi(npi) == npi
    assert check_digit(npi[:9]) == npi[9]


def test_a_check_digit_of_zero_is_valid() -> None:
    assert normalise_npi("1306849450") == "1306849450"


@pytest.mark.parametrize("npi", SAMPLE_NPIS)
def test_changing_any_single_digit_breaks_the_check(npi: str) -> None:
    for position in range(1, 10):
        for digit in "0123456789":
            if digit == npi[position]:
                continue
            altered = npi[:position] + digit + npi[position + 1 :]
            assert not is_valid_npi(altered), altered


def test_swapping_two_different_neighbouring_digits_breaks_the_check() -> None:
    npi = "1679576722"
    for position in range(1, 9):
        if npi[position] == npi[position + 1]:
            continue
        swapped = npi[:position] + npi[position + 1] + npi[position] + npi[position + 2 :]
        # Luhn misses only the 09 <-> 90 swap.
        if {npi[position], npi[position + 1]} != {"0", "9"}:
            assert not is_valid_npi(swapped), swapped


def test_luhn_with_the_prefix_is_what_the_npi_check_uses() -> None:
    assert luhn_valid("80840" + "1234567893")
    assert not luhn_valid("1234567893")  # without the issuer prefix the digit is wrong
    assert luhn_valid("79927398713")  # the textbook Luhn example


@pytest.mark.parametrize(
    "typed",
    [" 1679576722 ", "1679 576 722", "1679-576-722", "16-79-57-67-22", "1 6 7 9 5 7 6 7 2 2"],
)
def test_spaces_and_dashes_are_ignored(typed: str) -> None:
    assert normalise_npi(typed) == "1679576722"


@pytest.mark.parametrize("typed", ["", "   ", "-", " - - "])
def test_an_empty_npi_asks_for_one(typed: str) -> None:
    with pytest.raises(NpiError) as raised:
        normalise_npi(typed)
    assert str(raised.value) == "Enter your 10-digit NPI."


@pytest.mark.parametrize(
    "typed",
    [
        "167957672O",  # a letter O for a zero
        "NPI1679576722",
        "1679576722x",
        "1679.576.722",
        "1679_576_722",
        "1679576722\t",
        # Arabic-Indic and full-width digits are digits to Python, not to CMS.
        "\u0661\u0666\u0667\u0669\u0665\u0667\u0666\u0667\u0662\u0662",
        "\uff11\uff16\uff17\uff19\uff15\uff17\uff16\uff17\uff12\uff12",
        "+1679576722",
    ],
)
def test_anything_but_digits_spaces_and_dashes_is_refused(typed: str) -> None:
    with pytest.raises(NpiError) as raised:
        normalise_npi(typed)
    assert str(raised.value) == "An NPI has digits only."


@pytest.mark.parametrize(("typed", "length"), [("1", 1), ("167957672", 9), ("16795767221", 11)])
def test_a_wrong_length_says_how_many_digits_were_typed(typed: str, length: int) -> None:
    with pytest.raises(NpiError) as raised:
        normalise_npi(typed)
    assert str(raised.value) == f"An NPI has exactly 10 digits; this has {length}."


def test_the_length_counts_digits_after_spaces_and_dashes_are_removed() -> None:
    with pytest.raises(NpiError, match="this has 9"):
        normalise_npi("167-957-672")


@pytest.mark.parametrize("first", "03456789")
def test_an_npi_starts_with_1_or_2(first: str) -> None:
    # A valid check digit, so only the first digit is wrong.
    body = first + "23456789"
    with pytest.raises(NpiError) as raised:
        normalise_npi(body + check_digit(body))
    assert str(raised.value) == "An NPI starts with 1 or 2."


def test_an_npi_starting_with_2_is_accepted() -> None:
    body = "212345678"
    npi = body + check_digit(body)
    assert normalise_npi(npi) == npi


def test_a_wrong_check_digit_says_to_look_for_a_mistyped_digit() -> None:
    with pytest.raises(NpiError) as raised:
        normalise_npi("1679576723")
    assert str(raised.value) == (
        "This is not a valid NPI: its last digit (the check digit) does not match. "
        "Check for a mistyped digit."
    )


def test_npi_errors_are_value_errors() -> None:
    assert issubclass(NpiError, ValueError)


def test_is_valid_npi_never_raises() -> None:
    for typed in ["", "abc", "1", "1234567893", "0000000000", "1234567890"]:
        assert is_valid_npi(typed) is (typed == "1234567893")
