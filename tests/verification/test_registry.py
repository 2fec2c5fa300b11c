"""The NPPES registry copy: streaming import, lookup, re-verification, the demo file."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.accounts.models import User
from forum.extensions import db
from forum.verification import registry
from forum.verification.models import (
    ClaimStatus,
    HospitalDomain,
    ImportStatus,
    RegistryImport,
    RegistryProvider,
    VerificationClaim,
)
from forum.verification.npi import is_valid_npi
from tests.conftest import FormClient, Mailbox, body_text, first_link
from tests.core.helpers import PHYSICIAN_PROBE_URL, add_probe_routes, audit_rows, redirect_target
from tests.factories import make_user, sign_in

SAMPLE = Path(__file__).parents[2].parent / "shared" / "nppes" / "npidata_sample.csv"
DEMO_FILE = Path(__file__).parents[2] / "forum" / "verification" / "data" / "demo_registry.csv"

WIEBE, PILCHER, CUMBERLAND, SMITSON, GRESSOT = (
    "1679576722",
    "1588667638",
    "1497758544",
    "1306849450",
    "1215930367",
)
NAPA, ADUSUMILLI, WORTSMAN, BISBEE, SUNG, LOVETTSVILLE = (
    "1023011178",
    "1932102084",
    "1841293990",
    "1750384806",
    "1669475711",
    "1063947125",
)


# --- Files --------------------------------------------------------------------------------------


def sample() -> tuple[list[str], list[list[str]]]:
    """The sample file's header and rows."""
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A file quoted as CMS quotes it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def edited(path: Path, changes: dict[str, dict[str, str]]) -> Path:
    """The sample with some fields of some NPIs' rows changed."""
    header, rows = sample()
    at = {name: index for index, name in enumerate(header)}
    for row in rows:
        for column, value in changes.get(row[0], {}).items():
            row[at[column]] = value
    return write(path, header, rows)


def run_import(app: Flask, path: Path, **options: Any) -> registry.ImportSummary:
    with app.app_context():
        return registry.import_file(path, **options)


def described(app: Flask, npi: str) -> dict[str, Any]:
    with app.app_context():
        provider = registry.find_provider(npi)
        assert provider is not None, npi
        return registry.describe(provider)


def imports(app: Flask) -> list[RegistryImport]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(RegistryImport).order_by(RegistryImport.id)))
        db.session.expunge_all()
        return found


def provider_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(RegistryProvider)) or 0


# --- Reading records: the plain-line shortcut reads what the csv module reads ------------------

WIDTH = 6
field_text = st.text(alphabet='ab ,"\r\n-', max_size=6)


def csv_records(data: str) -> list[tuple[int, list[str]]]:
    """(first line, fields) of each record as the csv module reads them (the reference)."""
    reader = csv.reader(io.StringIO(data, newline=""))
    found, line = [], 1
    for fields in reader:
        found.append((line, fields))
        line = reader.line_num + 1
    return found


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.one_of(
            st.lists(field_text, min_size=WIDTH, max_size=WIDTH),
            st.lists(field_text, min_size=0, max_size=WIDTH + 2),
        ),
        max_size=6,
    ),
    terminator=st.sampled_from(["\n", "\r\n"]),
    needed=st.integers(min_value=1, max_value=WIDTH),
)
def test_records_read_exactly_what_the_csv_module_reads(
    rows: list[list[str]], terminator: str, needed: int
) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator=terminator).writerows(rows)
    data = buffer.getvalue()

    got = list(registry.records(io.StringIO(data, newline=""), WIDTH, needed))

    expected = csv_records(data)
    assert [line for line, _, _ in got] == [line + 1 for line, _ in expected]
    for (_, fields, problem), (_, reference) in zip(got, expected, strict=True):
        if reference and len(reference) != WIDTH:
            assert problem == f"expected {WIDTH} fields, found {len(reference)}"
        else:
            assert problem is None
            assert fields[:needed] == reference[:needed]


def test_records_take_the_shortcut_only_for_plainly_quoted_lines() -> None:
    data = '"a","b","c"\n"d","e""f","g"\n"h","i\nj","k"\n"l","m","n"\n'

    got = list(registry.records(io.StringIO(data, newline=""), 3, 1))

    assert got == [
        (2, ["a", 'b","c'], None),  # split after the one field needed
        (3, ["d", 'e"f', "g"], None),  # an escaped quote: read by the csv module
        (4, ["h", "i\nj", "k"], None),  # a field on two lines
        (6, ["l", 'm","n'], None),
    ]


# --- The sample file's eleven NPIs --------------------------------------------------------------

EXPECTED = {
    # npi: (entity type, name, active individual physician)
    WIEBE: (1, "WIEBE", True),
    PILCHER: (1, "PILCHER", True),
    CUMBERLAND: (2, "CUMBERLAND COUNTY HOSPITAL SYSTEM, INC", False),
    SMITSON: (1, "SMITSON", True),
    GRESSOT: (1, "GRESSOT", True),
    NAPA: (2, "NAPA VALLEY HOSPICE & ADULT DAY SERVICES", False),
    ADUSUMILLI: (1, "ADUSUMILLI", True),
    WORTSMAN: (1, "WORTSMAN", False),
    BISBEE: (1, "BISBEE", True),
    SUNG: (1, "SUNG", True),
    LOVETTSVILLE: (2, "LOVETTSVILLE DENTAL ARTS", False),
}


def test_the_sample_file_gives_the_expected_outcome_for_each_of_its_eleven_npis(
    app: Flask,
) -> None:
    summary = run_import(app, SAMPLE)

    assert (summary.rows_read, summary.rows_written, summary.rows_malformed) == (11, 11, 0)
    for npi, (entity, name, physician) in EXPECTED.items():
        record = described(app, npi)
        assert record["entity_type"] == entity, npi
        assert (record["last_name"] if entity == 1 else record["organisation_name"]) == name
        assert record["active"] is True
        assert record["individual"] is (entity == 1)
        assert record["active_individual_physician"] is physician, npi
        assert record["import_id"] == summary.import_id


def test_the_samples_edge_cases_are_kept_as_published(app: Flask) -> None:
    run_import(app, SAMPLE)

    pilcher = described(app, PILCHER)
    assert [(s["slot"], s["licence"], s["state"], s["primary"]) for s in pilcher["taxonomies"]] == [
        (1, "032024", "GA", False),
        (2, "ME68414", "FL", True),
    ]
    assert pilcher["practice_state"] == "FL"
    gressot = described(app, GRESSOT)
    assert [(s["code"], s["primary"]) for s in gressot["taxonomies"]] == [
        ("174400000X", False),
        ("207RH0003X", True),
    ]
    assert gressot["physician"] is True  # slot 2, not slot 1, holds the physician code
    assert gressot["primary_taxonomy"] == "207RH0003X"
    assert described(app, SUNG)["credential"] == "M. D."
    smitson = described(app, SMITSON)
    assert (smitson["first_name"], smitson["middle_name"], smitson["name_suffix"]) == (
        "HAROLD",
        "LEROY",
        "II",
    )
    wortsman = described(app, WORTSMAN)
    assert (wortsman["physician"], wortsman["primary_taxonomy"]) == (False, "231H00000X")
    wiebe = described(app, WIEBE)
    assert (wiebe["last_updated_on"], wiebe["deactivated_on"], wiebe["other_names"]) == (
        "2007-07-08",
        None,
        [],
    )


def test_importing_the_same_file_twice_writes_nothing_the_second_time(app: Flask) -> None:
    first = run_import(app, SAMPLE)
    second = run_import(app, SAMPLE)

    assert (second.rows_read, second.rows_written) == (11, 0)
    assert second.import_id != first.import_id
    assert [(i.status, i.rows_read, i.rows_written) for i in imports(app)] == [
        (ImportStatus.COMPLETE, 11, 11),
        (ImportStatus.COMPLETE, 11, 0),
    ]
    assert described(app, WIEBE)["import_id"] == first.import_id  # not rewritten
    assert provider_count(app) == 11


def test_each_import_is_recorded_with_its_file_checksum_and_times(app: Flask) -> None:
    summary = run_import(app, SAMPLE)

    (record,) = imports(app)
    assert record.file_name == "npidata_sample.csv"
    assert record.file_size == SAMPLE.stat().st_size
    assert record.sha256 == summary.sha256 == registry.file_sha256(SAMPLE)
    assert record.finished_at is not None
    assert record.finished_at >= record.started_at
    assert record.malformed_examples == []


def test_the_zip_cms_publishes_is_read_without_extracting_it(app: Flask, tmp_path: Path) -> None:
    header, _ = sample()
    archive = tmp_path / "NPPES_Data_Dissemination_Weekly.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("npidata_pfile_20240304-20240310_fileheader.csv", ",".join(header))
        zipped.write(SAMPLE, "npidata_pfile_20240304-20240310.csv")
        zipped.writestr("othername_pfile_20240304-20240310.csv", '"NPI"\n')
        zipped.writestr("NPPES_Data_Dissemination_Readme.pdf", b"%PDF-1.4")
    before = sorted(path.name for path in tmp_path.iterdir())

    summary = run_import(app, archive)

    assert (summary.rows_read, summary.rows_written) == (11, 11)
    assert summary.file_name == archive.name + "/npidata_pfile_20240304-20240310.csv"
    assert summary.sha256 == registry.file_sha256(archive)
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    assert described(app, SUNG)["active_individual_physician"] is True


def test_a_zip_without_one_npidata_csv_is_refused_with_its_contents_named(
    app: Flask, tmp_path: Path
) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.csv", "x")
        zipped.writestr("b.csv", "y")

    with pytest.raises(registry.RegistryError, match=r"a\.csv, b\.csv"):
        run_import(app, archive)
    assert imports(app) == []


def test_an_older_file_saying_provider_gender_code_is_accepted(app: Flask, tmp_path: Path) -> None:
    header, rows = sample()
    header = ["Provider Gender Code" if name == "Provider Sex Code" else name for name in header]

    summary = run_import(app, write(tmp_path / "old.csv", header, rows))

    assert (summary.rows_written, summary.rows_malformed) == (11, 0)


@pytest.mark.parametrize(
    "column", ["Provider License Number State Code_7", "Provider Sex Code", "NPI Deactivation Date"]
)
def test_a_missing_column_is_named_and_nothing_is_imported(
    app: Flask, tmp_path: Path, column: str
) -> None:
    header, rows = sample()
    drop = header.index(column)
    path = write(tmp_path / "cut.csv", header[:drop] + header[drop + 1 :], [
        row[:drop] + row[drop + 1 :] for row in rows
    ])  # fmt: skip

    with pytest.raises(registry.RegistryError) as raised:
        run_import(app, path)

    expected = "Provider Sex Code or Provider Gender Code" if "Sex" in column else column
    assert f"the header lacks '{expected}'" in raised.value.message
    assert imports(app) == []
    assert provider_count(app) == 0


def test_a_damaged_or_truncated_zip_is_refused_clearly(app: Flask, tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(SAMPLE, "npidata_pfile_20240304-20240310.csv")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:-200])

    with pytest.raises(registry.RegistryError, match="not a readable zip file"):
        run_import(app, truncated)
    assert imports(app) == []


def test_a_zip_damaged_inside_fails_the_import_with_a_clear_message(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    big = write(tmp_path / "big.csv", header, rows * 300)
    archive = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(big, "npidata_pfile_20240304-20240310.csv")
    data = bytearray(archive.read_bytes())
    # Two thirds into the compressed CSV: the header reads well, a later batch does not.
    at = len(data) * 2 // 3
    data[at : at + 64] = bytes(64)
    archive.write_bytes(bytes(data))

    with pytest.raises(registry.RegistryError, match="damaged zip file"):
        run_import(app, archive)

    (failed,) = imports(app)
    assert (failed.status, failed.error) == (ImportStatus.FAILED, "RegistryError")


def test_an_empty_file_is_refused_clearly(app: Flask, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(registry.RegistryError, match="empty"):
        run_import(app, empty)


def test_malformed_rows_are_counted_with_their_line_numbers_and_the_import_goes_on(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    at = {name: index for index, name in enumerate(header)}
    short = rows[0][:40]
    bad_npi = [*rows[1]]
    bad_npi[0] = "12345X"
    bad_date = [*rows[2]]
    bad_date[at["Last Update Date"]] = "13/45/2020"
    bad_entity = [*rows[3]]
    bad_entity[at["Entity Type Code"]] = "3"
    long_name = [*rows[4]]
    long_name[at["Provider Last Name (Legal Name)"]] = "Q" * 101
    nul = [*rows[5]]
    nul[at["Provider First Name"]] = "A\x00B"
    # Lines: 1 header, 2 short, 3-13 the sample, 14 bad NPI, 15 bad date, 16 entity, 17 name,
    # 18 NUL.
    path = write(
        tmp_path / "bad.csv", header, [short, *rows, bad_npi, bad_date, bad_entity, long_name, nul]
    )

    summary = run_import(app, path)

    assert (summary.rows_read, summary.rows_malformed) == (17, 6)
    assert summary.malformed_examples == [
        {"line": 2, "problem": "expected 330 fields, found 40"},
        {"line": 14, "problem": "NPI is not 10 digits"},
        {"line": 15, "problem": "Last Update Date is not a date (MM/DD/YYYY)"},
        {"line": 16, "problem": "Entity Type Code is neither 1 nor 2"},
        {"line": 17, "problem": "Provider Last Name (Legal Name) is longer than 100 characters"},
        {"line": 18, "problem": "a field holds a NUL character"},
    ]
    assert provider_count(app) == 11
    (record,) = imports(app)
    assert (record.rows_malformed, record.malformed_examples) == (6, summary.malformed_examples)
    assert "12345X" not in json.dumps(record.malformed_examples)


def test_only_the_first_ten_malformed_rows_are_shown_but_all_are_counted(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    path = write(tmp_path / "many.csv", header, [["too", "short"]] * 25 + rows)

    summary = run_import(app, path, batch_size=7)

    assert summary.rows_malformed == 25
    assert [example["line"] for example in summary.malformed_examples] == list(range(2, 12))
    assert provider_count(app) == 11


def test_an_interrupted_import_resumes_after_its_last_committed_batch(app: Flask) -> None:
    batches: list[registry.Progress] = []

    def interrupt(progress: registry.Progress) -> None:
        batches.append(progress)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_import(app, SAMPLE, batch_size=4, on_batch=interrupt)

    (interrupted,) = imports(app)
    assert (interrupted.status, interrupted.rows_read, interrupted.rows_written) == (
        ImportStatus.RUNNING,
        4,
        4,
    )
    assert interrupted.finished_at is None
    assert provider_count(app) == 4
    assert [(b.rows_read, b.rows_written) for b in batches] == [(4, 4)]

    seen: list[int] = []
    summary = run_import(app, SAMPLE, batch_size=4, on_batch=lambda p: seen.append(p.rows_read))

    assert summary.import_id == interrupted.id
    assert summary.resumed_after == 4
    assert seen == [8, 11]
    assert (summary.rows_read, summary.rows_written) == (11, 11)
    (finished,) = imports(app)
    assert (finished.status, finished.rows_read, finished.rows_written) == (
        ImportStatus.COMPLETE,
        11,
        11,
    )
    assert provider_count(app) == 11


def test_a_failed_import_is_recorded_and_the_next_run_carries_on_from_it(app: Flask) -> None:
    def fail(progress: registry.Progress) -> None:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        run_import(app, SAMPLE, batch_size=5, on_batch=fail)

    (failed,) = imports(app)
    assert (failed.status, failed.error, failed.rows_read) == (
        ImportStatus.FAILED,
        "RuntimeError",
        5,
    )
    summary = run_import(app, SAMPLE, batch_size=5)
    assert (summary.import_id, summary.resumed_after, summary.rows_written) == (failed.id, 5, 11)
    assert imports(app)[0].status == ImportStatus.COMPLETE


def test_a_row_updated_later_is_rewritten_and_the_others_are_not(
    app: Flask, tmp_path: Path
) -> None:
    first = run_import(app, SAMPLE)
    changed = edited(
        tmp_path / "later.csv",
        {WIEBE: {"Last Update Date": "03/01/2024", "Provider Credential Text": "MD, FAAOS"}},
    )

    second = run_import(app, changed)

    assert second.rows_written == 1
    wiebe = described(app, WIEBE)
    assert (wiebe["credential"], wiebe["last_updated_on"], wiebe["import_id"]) == (
        "MD, FAAOS",
        "2024-03-01",
        second.import_id,
    )
    assert described(app, BISBEE)["import_id"] == first.import_id


def test_an_older_record_never_overwrites_a_newer_one(app: Flask, tmp_path: Path) -> None:
    newer = edited(
        tmp_path / "newer.csv",
        {WIEBE: {"Last Update Date": "03/01/2024", "Provider Credential Text": "MD, FAAOS"}},
    )
    run_import(app, newer)

    summary = run_import(app, SAMPLE)  # the 2007 record, imported out of order

    assert summary.rows_written == 0
    assert described(app, WIEBE)["credential"] == "MD, FAAOS"


def test_the_last_record_of_an_npi_repeated_in_one_file_wins(app: Flask, tmp_path: Path) -> None:
    header, rows = sample()
    again = [*rows[0]]
    again[header.index("Provider Credential Text")] = "DO"
    path = write(tmp_path / "twice.csv", header, [*rows, again])

    summary = run_import(app, path)

    assert (summary.rows_read, summary.rows_malformed) == (12, 0)
    assert described(app, WIEBE)["credential"] == "DO"


def test_a_deactivated_record_as_nppes_publishes_it_is_not_active(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    deactivated = [""] * len(header)
    deactivated[0] = SUNG
    deactivated[header.index("NPI Deactivation Date")] = "05/20/2021"

    run_import(app, write(tmp_path / "deactivated.csv", header, [*rows[:-2], deactivated]))

    sung = described(app, SUNG)
    assert (sung["active"], sung["individual"], sung["active_individual_physician"]) == (
        False,
        False,
        False,
    )
    assert sung["deactivated_on"] == "2021-05-20"


# --- Re-verification ----------------------------------------------------------------------------


def verified_member(app: Flask, npi: str, email: str) -> tuple[Any, int]:
    """A member verified with an NPI through an approved claim; returns (member, claim id)."""
    with app.app_context():
        member = make_user(email=email, verified=True)
        user = db.session.get(User, member.id)
        assert user is not None
        user.npi = npi
        user.specialty = "internal-medicine"
        claim = VerificationClaim(
            user_id=member.id,
            npi=npi,
            first_name="Robert",
            last_name="Bisbee",
            practice_state="TX",
            specialty="internal-medicine",
            status=ClaimStatus.APPROVED,
            match_outcome="match",
            evidence={},
        )
        db.session.add(claim)
        db.session.commit()
        return member, claim.id


def bisbee_deactivated(tmp_path: Path) -> Path:
    return edited(
        tmp_path / "deactivated.csv",
        {BISBEE: {"NPI Deactivation Date": "02/01/2024", "Last Update Date": "02/01/2024"}},
    )


def bisbee_reactivated(tmp_path: Path, name: str = "reactivated.csv") -> Path:
    return edited(
        tmp_path / name,
        {
            BISBEE: {
                "NPI Deactivation Date": "02/01/2024",
                "NPI Reactivation Date": "04/15/2024",
                "Last Update Date": "04/15/2024",
            }
        },
    )


def test_a_deactivated_npi_closes_clinical_pages_at_once_and_the_member_is_told(
    app: Flask, client: FormClient, mailbox: Mailbox, tmp_path: Path
) -> None:
    add_probe_routes(app)
    run_import(app, SAMPLE)
    member, claim_id = verified_member(app, BISBEE, "bisbee@hospital.example")
    sign_in(client, member, app)
    assert client.get(PHYSICIAN_PROBE_URL).status_code == 200

    summary = run_import(app, bisbee_deactivated(tmp_path))

    assert summary.revoked == 1
    response = client.get(PHYSICIAN_PROBE_URL)
    assert response.status_code == 302
    assert redirect_target(response)[0] == "/verification/"
    with app.app_context():
        user = db.session.get(User, member.id)
        assert user is not None
        assert (user.verified_at, user.npi, user.is_physician) == (None, None, False)
        claim = db.session.get(VerificationClaim, claim_id)
        assert claim is not None
        assert (claim.status, claim.npi) == (ClaimStatus.REVOKED, BISBEE)
        (event,) = audit_rows("verification.revoked")
        assert (event.actor_id, event.target_type, event.target_id) == (
            None,
            "user_account",
            member.id,
        )
        assert event.details == {
            "import_id": summary.import_id,
            "npi": BISBEE,
            "claim_id": claim_id,
        }
    (message,) = mailbox.to("bisbee@hospital.example")
    assert "withdrawn" in str(message["Subject"])
    text = body_text(message)
    assert "deactivated" in text
    assert "until you verify again" in text
    assert first_link(message) == "http://curbside.example/verification/"


def test_members_whose_npi_stays_active_keep_their_access(
    app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    run_import(app, SAMPLE)
    member, _claim_id = verified_member(app, WIEBE, "wiebe@hospital.example")

    summary = run_import(app, bisbee_deactivated(tmp_path))

    assert summary.revoked == 0
    with app.app_context():
        user = db.session.get(User, member.id)
        assert user is not None
        assert user.is_physician
        assert user.npi == WIEBE
        assert audit_rows("verification.revoked") == []
    assert mailbox.to("wiebe@hospital.example") == []


def test_a_reactivated_npi_is_told_once_that_it_may_verify_again(
    app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    run_import(app, SAMPLE)
    member, claim_id = verified_member(app, BISBEE, "bisbee@hospital.example")
    run_import(app, bisbee_deactivated(tmp_path))
    mailbox.clear()

    reactivated = run_import(app, bisbee_reactivated(tmp_path))
    again = run_import(app, bisbee_reactivated(tmp_path))
    later = run_import(
        app,
        edited(
            tmp_path / "later.csv",
            {
                BISBEE: {
                    "NPI Deactivation Date": "02/01/2024",
                    "NPI Reactivation Date": "04/15/2024",
                    "Last Update Date": "06/30/2024",
                    "Provider Credential Text": "M.D.",
                }
            },
        ),
    )

    assert (reactivated.reactivation_notices, again.reactivation_notices) == (1, 0)
    assert (later.rows_written, later.reactivation_notices) == (1, 0)
    (message,) = mailbox.to("bisbee@hospital.example")
    assert "active again" in str(message["Subject"])
    assert "submit your credentials" in body_text(message)
    assert first_link(message) == "http://curbside.example/verification/"
    with app.app_context():
        (event,) = audit_rows("verification.reactivation_noticed")
        assert (event.target_type, event.target_id) == ("verification_claim", claim_id)
        assert event.details == {"import_id": reactivated.import_id, "user_id": member.id}
        user = db.session.get(User, member.id)
        assert user is not None
        assert user.verified_at is None


# --- The commands -------------------------------------------------------------------------------


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_flask_registry_import_prints_the_summary_and_the_first_malformed_rows(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    path = write(tmp_path / "npidata.csv", header, [*rows[:3], ["1588667638"], *rows[3:]])

    result = cli(app, "registry", "import", str(path), "--batch-size", "5")

    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output
    assert re.search(r"rows read\s+12\n", result.output)
    assert re.search(r"rows written\s+11\s", result.output)
    assert re.search(r"rows malformed\s+1\n", result.output)
    assert "line 5: expected 330 fields, found 1" in result.output
    assert provider_count(app) == 11


def test_flask_registry_import_names_a_missing_column_and_exits_with_1(
    app: Flask, tmp_path: Path
) -> None:
    header, rows = sample()
    path = write(tmp_path / "npidata.csv", header[1:], [row[1:] for row in rows])

    result = cli(app, "registry", "import", str(path))

    assert result.exit_code == 1
    assert "Error: This is not an NPPES data file we can read: the header lacks 'NPI'" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_flask_registry_lookup_prints_the_record_as_json(app: Flask) -> None:
    summary = run_import(app, SAMPLE)

    result = cli(app, "registry", "lookup", "1215 930 367")

    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["npi"] == GRESSOT
    assert (record["active"], record["individual"], record["physician"]) == (True, True, True)
    assert record["active_individual_physician"] is True
    assert record["import_id"] == summary.import_id
    organisation = json.loads(cli(app, "registry", "lookup", NAPA).output)
    assert (organisation["individual"], organisation["active_individual_physician"]) == (
        False,
        False,
    )


@pytest.mark.parametrize(
    ("npi", "message"),
    [
        ("1234567893", "NPI 1234567893 is not in the registry copy"),
        ("1234567890", "check digit"),
        ("12345", "exactly 10 digits"),
    ],
)
def test_flask_registry_lookup_of_an_unknown_or_invalid_npi_says_so_and_exits_with_1(
    app: Flask, npi: str, message: str
) -> None:
    run_import(app, SAMPLE)

    result = cli(app, "registry", "lookup", npi)

    assert result.exit_code == 1
    assert message in result.output


# --- The demo registry --------------------------------------------------------------------------


def test_the_demo_registry_has_the_real_header_and_valid_npis() -> None:
    header, _ = sample()
    with DEMO_FILE.open(newline="", encoding="utf-8") as handle:
        demo_header, *rows = list(csv.reader(handle))
    assert demo_header == header
    assert 10 <= len(rows) <= 15
    assert all(len(row) == len(header) and is_valid_npi(row[0]) for row in rows)


def test_demo_seed_imports_the_demo_registry_once_and_links_the_verified_accounts(
    app: Flask,
) -> None:
    from forum.demo import DEMO_ACCOUNTS, DEMO_HOSPITAL_DOMAIN

    first = cli(app, "demo", "seed")
    second = cli(app, "demo", "seed")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "13 providers, 13 new or changed" in first.output
    assert "13 providers, 0 new or changed" in second.output
    assert provider_count(app) == 13
    with app.app_context():
        domains = list(db.session.scalars(sa.select(HospitalDomain)))
        assert [(d.domain, d.organisation) for d in domains] == [
            (DEMO_HOSPITAL_DOMAIN, "Curbside Demo Hospital")
        ]
        for account in DEMO_ACCOUNTS:
            user = db.session.scalar(sa.select(User).where(User.email == account.email))
            assert user is not None
            provider = db.session.get(RegistryProvider, account.npi)
            assert provider is not None
            assert provider.is_active_physician
            assert (provider.first_name, provider.last_name) == (
                account.first_name.upper(),
                account.last_name.upper(),
            )
            assert user.npi == (account.npi if account.verified else None)
        cardiologist = db.session.scalar(
            sa.select(User).where(User.email == "cardiology@curbside.example")
        )
        assert cardiologist is not None
        assert cardiologist.specialty == "cardiology"
    newcomer = next(account for account in DEMO_ACCOUNTS if account.email.startswith("newcomer"))
    assert newcomer.email.endswith("@" + DEMO_HOSPITAL_DOMAIN)
    assert f"To verify {newcomer.email}, claim NPI {newcomer.npi}" in first.output


def test_the_demo_registry_holds_the_cases_a_newcomer_can_try(app: Flask) -> None:
    summary = run_import(app, DEMO_FILE)

    assert (summary.rows_read, summary.rows_malformed) == (13, 0)
    with app.app_context():
        providers = list(db.session.scalars(sa.select(RegistryProvider)))
        kinds = {
            "deactivated": [p for p in providers if not p.is_active],
            "organisation": [p for p in providers if p.entity_type == 2],
            "audiologist": [p for p in providers if p.primary_taxonomy == "231H00000X"],
            "former name": [p for p in providers if p.other_names],
        }
    assert {kind: len(found) for kind, found in kinds.items()} == dict.fromkeys(kinds, 1)


def test_an_import_hook_sees_progress_through_the_file(app: Flask) -> None:
    seen: list[registry.Progress] = []
    run_import(app, SAMPLE, batch_size=3, on_batch=seen.append)

    assert [p.rows_read for p in seen] == [3, 6, 9, 11]
    assert all(p.bytes_total == SAMPLE.stat().st_size for p in seen)
    assert seen[-1].bytes_read == SAMPLE.stat().st_size
