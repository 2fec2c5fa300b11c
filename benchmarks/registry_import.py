"""How fast `flask registry import` reads an NPPES file, against Python's csv module alone.

Writes a synthetic NPPES data file with the real 330-column header (from
../shared/nppes/npidata_sample.csv) and --rows rows of realistic values, every one quoted as CMS
quotes them; measures the csv module alone reading it (the ceiling); then imports it into a
fresh SQLite file and a fresh PostgreSQL database. Each measurement runs in its own process so
its peak memory (getrusage RUSAGE_CHILDREN ru_maxrss, read by a small wrapper process around it)
is that import's alone; the import's own reader process is added to it.

    .venv/bin/python benchmarks/registry_import.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/registry_import.py --rows 200000

Target (issue 3): each import at no less than half the csv-only rate, peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "nppes" / "npidata_sample.csv"
PG_ADMIN_URL = os.environ.get("CURBSIDE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 300

LAST_NAMES = (
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "O'BRIEN", "SMITH-JONES", "PATEL",
    "SHAH", "CHEN", "WANG", "KIM", "PARK", "MULLER", "DUBOIS", "ROSSI",
)  # fmt: skip
FIRST_NAMES = (
    "JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID",
    "ELIZABETH", "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA", "THOMAS",
    "SARAH", "CHARLES", "KAREN", "CHRISTOPHER", "LISA", "DANIEL", "NANCY", "MATTHEW", "BETTY",
    "ANTHONY", "MARGARET", "MARK", "SANDRA", "PRIYA", "WEI", "AHMED", "FATIMA", "JOSE", "MARIA",
    "ANH",
)  # fmt: skip
CITIES = (
    ("HOUSTON", "TX", "77030"),
    ("NEW YORK", "NY", "10016"),
    ("CHICAGO", "IL", "60611"),
    ("LOS ANGELES", "CA", "90048"),
    ("PHOENIX", "AZ", "85006"),
    ("BOSTON", "MA", "02114"),
    ("SEATTLE", "WA", "98104"),
    ("MIAMI", "FL", "33136"),
    ("ATLANTA", "GA", "30322"),
    ("DENVER", "CO", "80045"),
    ("TOLEDO", "OH", "43615"),
    ("OMAHA", "NE", "68198"),
)
STREETS = (
    "MAIN ST", "OAK AVE", "CENTRAL AVE", "MEDICAL CENTER DR", "KING STREET", "PARK BLVD",
    "HOSPITAL RD",
)  # fmt: skip
# A mix like the registry's: physicians, nurses, therapists, dentists, pharmacists, counsellors.
INDIVIDUAL_CODES = (
    "207R00000X", "207Q00000X", "207RC0000X", "208000000X", "207P00000X", "2084P0800X",
    "2084N0400X", "207X00000X", "363L00000X", "363LF0000X", "163W00000X", "225100000X",
    "1223G0001X", "183500000X", "101YM0800X", "231H00000X", "174400000X", "390200000X",
    "367500000X", "111N00000X",
)  # fmt: skip
ORGANISATION_CODES = (
    "282N00000X", "261QP2300X", "251G00000X", "332B00000X", "261QD0000X", "3336C0003X",
)  # fmt: skip
CREDENTIALS = ("MD", "M.D.", "DO", "RN", "NP", "PA-C", "DDS", "PHARMD", "LCSW", "M. D.", "")


def npi_from(base9: str) -> str:
    """The NPI with its check digit: Luhn over 80840 + the nine digits."""
    total = 0
    for position, char in enumerate(reversed("80840" + base9)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return base9 + str((10 - total % 10) % 10)


def header() -> list[str]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def _address(row: list[str], at: dict[str, int], kind: str, rng: random.Random) -> None:
    city, state, zipcode = rng.choice(CITIES)
    row[at[f"Provider First Line Business {kind} Address"]] = (
        f"{rng.randint(1, 9999)} {rng.choice(STREETS)}"
    )
    if rng.random() < 0.3:
        row[at[f"Provider Second Line Business {kind} Address"]] = f"SUITE {rng.randint(1, 900)}"
    row[at[f"Provider Business {kind} Address City Name"]] = city
    row[at[f"Provider Business {kind} Address State Name"]] = state
    row[at[f"Provider Business {kind} Address Postal Code"]] = (
        zipcode + f"{rng.randint(0, 9999):04d}"
    )
    row[at[f"Provider Business {kind} Address Country Code (If outside U.S.)"]] = "US"
    row[at[f"Provider Business {kind} Address Telephone Number"]] = (
        f"{rng.randint(2, 9)}{rng.randint(0, 10**9 - 1):09d}"
    )
    if rng.random() < 0.6:
        row[at[f"Provider Business {kind} Address Fax Number"]] = (
            f"{rng.randint(2, 9)}{rng.randint(0, 10**9 - 1):09d}"
        )


def _date(rng: random.Random, first: int = 2005, last: int = 2025) -> str:
    return f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(first, last)}"


def synthetic_row(
    number: int, columns: list[str], at: dict[str, int], rng: random.Random
) -> list[str]:
    """One record: individual (75%), organisation (22%) or deactivated (3%)."""
    row = [""] * len(columns)
    # A multiplicative permutation of 1xxxxxxxx: unique NPIs in no particular order, like CMS's.
    row[at["NPI"]] = npi_from(f"1{(number * 48271 + 12345) % 100_000_000:08d}")
    roll = rng.random()
    if roll < 0.03:
        row[at["NPI Deactivation Date"]] = _date(rng, 2008)
        return row
    organisation = roll < 0.25
    row[at["Entity Type Code"]] = "2" if organisation else "1"
    if organisation:
        kind = rng.choice(("MEDICAL GROUP", "CLINIC LLC", "HEALTH SYSTEM, INC", "PHARMACY"))
        row[at["Provider Organization Name (Legal Business Name)"]] = (
            f"{rng.choice(LAST_NAMES)} {kind}"
        )
        row[at["Employer Identification Number (EIN)"]] = "<UNAVAIL>"
        row[at["Authorized Official Last Name"]] = rng.choice(LAST_NAMES)
        row[at["Authorized Official First Name"]] = rng.choice(FIRST_NAMES)
        row[at["Authorized Official Title or Position"]] = rng.choice(
            ("CEO", "OWNER", "ADMINISTRATOR")
        )
        row[at["Authorized Official Telephone Number"]] = (
            f"{rng.randint(2, 9)}{rng.randint(0, 10**9 - 1):09d}"
        )
        row[at["Is Organization Subpart"]] = "N"
        codes = ORGANISATION_CODES
    else:
        row[at["Provider Last Name (Legal Name)"]] = rng.choice(LAST_NAMES)
        row[at["Provider First Name"]] = rng.choice(FIRST_NAMES)
        if rng.random() < 0.6:
            row[at["Provider Middle Name"]] = rng.choice(FIRST_NAMES)[: rng.choice((1, 8))]
        if rng.random() < 0.3:
            row[at["Provider Name Prefix Text"]] = "DR."
        if rng.random() < 0.03:
            row[at["Provider Name Suffix Text"]] = rng.choice(("JR.", "II", "III"))
        row[at["Provider Credential Text"]] = rng.choice(CREDENTIALS)
        if rng.random() < 0.08:
            row[at["Provider Other Last Name"]] = rng.choice(LAST_NAMES)
            row[at["Provider Other First Name"]] = row[at["Provider First Name"]]
            row[at["Provider Other Last Name Type Code"]] = "1"
        row[at["Provider Sex Code"]] = rng.choice("MF")
        row[at["Is Sole Proprietor"]] = rng.choice("NNNY")
        codes = INDIVIDUAL_CODES
    _address(row, at, "Mailing", rng)
    _address(row, at, "Practice Location", rng)
    row[at["Provider Enumeration Date"]] = _date(rng, 2005, 2015)
    row[at["Last Update Date"]] = _date(rng, 2015, 2025)
    if rng.random() < 0.01:
        row[at["NPI Reactivation Date"]] = _date(rng, 2016, 2025)
        row[at["NPI Deactivation Date"]] = _date(rng, 2008, 2015)
    slots = rng.choice((1, 1, 1, 2, 2, 3))
    primary = rng.randint(1, slots)
    for slot in range(1, slots + 1):
        row[at[f"Healthcare Provider Taxonomy Code_{slot}"]] = rng.choice(codes)
        if rng.random() < 0.8:
            row[at[f"Provider License Number_{slot}"]] = (
                f"{rng.choice('ABCDEFGHMZ')}{rng.randint(1000, 999999)}"
            )
            row[at[f"Provider License Number State Code_{slot}"]] = rng.choice(CITIES)[1]
        row[at[f"Healthcare Provider Primary Taxonomy Switch_{slot}"]] = (
            "Y" if slot == primary else "N"
        )
    for other in range(1, rng.choice((1, 1, 2, 3)) + 1):
        row[at[f"Other Provider Identifier_{other}"]] = f"{rng.randint(10**6, 10**9)}"
        row[at[f"Other Provider Identifier Type Code_{other}"]] = rng.choice(("01", "05", "08"))
        row[at[f"Other Provider Identifier State_{other}"]] = rng.choice(CITIES)[1]
    row[at["Certification Date"]] = _date(rng, 2010, 2025)
    return row


def write_file(path: Path, rows: int) -> None:
    columns = header()
    at = {name: index for index, name in enumerate(columns)}
    rng = random.Random(20261123)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(columns)
        for number in range(rows):
            writer.writerow(synthetic_row(number, columns, at, rng))


# --- Child processes ----------------------------------------------------------------------------


def child_csv(path: Path) -> dict[str, Any]:
    """The ceiling: the csv module alone reading every row."""
    began = time.perf_counter()
    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for _ in csv.reader(handle):
            count += 1
    return {"rows": count - 1, "seconds": time.perf_counter() - began}


def child_import(path: Path, database_url: str, workdir: Path) -> dict[str, Any]:
    """The real import, as `flask registry import` runs it, into an empty database."""
    sys.path.insert(0, str(ROOT))
    from forum import create_app
    from forum.extensions import db
    from forum.verification import registry

    app = create_app(
        {
            "ENV_NAME": "development",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(workdir / "instance"),
            "MAIL_BACKEND": "file",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        db.create_all()
        began = time.perf_counter()
        summary = registry.import_file(path)
        seconds = time.perf_counter() - began
        stored = db.session.scalar(
            db.select(db.func.count()).select_from(registry.RegistryProvider)
        )
    # The import parses in a forked reader process: its peak counts too.
    reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "rows": summary.rows_read,
        "written": summary.rows_written,
        "malformed": summary.rows_malformed,
        "stored": stored,
        "seconds": seconds,
        "own_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reader_peak_mb": reader,
    }


def child_measure(command: list[str]) -> None:
    """Run one measurement as our only child and add its peak memory to what it printed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit(done.returncode)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss (KiB on Linux) is the largest resident set among the child and its own children
    # (the import's reader process); the import reports both, so their sum is its peak.
    result["peak_mb"] = usage.ru_maxrss / 1024
    if "reader_peak_mb" in result:
        result["peak_mb"] = result["own_peak_mb"] + result["reader_peak_mb"]
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # CPU time adds up over descendants
    print(json.dumps(result))


def measure(*arguments: str) -> dict[str, Any]:
    """One measurement in a fresh process, through a wrapper that reads its peak memory."""
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--measure", "--", sys.executable, script, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- PostgreSQL ---------------------------------------------------------------------------------


def create_pg_database() -> str:
    import psycopg

    name = f"curbside_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Main ---------------------------------------------------------------------------------------


def fastest(results: Any) -> dict[str, Any]:
    """The quickest of repeated runs: the one least disturbed by whatever else the machine does."""
    return min(results, key=lambda result: result["seconds"])


def import_once(database: str, path: Path, workdir: Path, attempt: int) -> dict[str, Any]:
    """One import of the file into a fresh, empty database."""
    if database == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{attempt}.sqlite3'}"
    else:
        url = create_pg_database()
    try:
        return measure(
            "--child", "import", "--file", str(path), "--database-url", url,
            "--workdir", str(workdir),
        )  # fmt: skip
    finally:
        if database == "postgresql":
            drop_pg_database(url)


def report(name: str, result: dict[str, Any], ceiling: float | None) -> bool:
    rate = result["rows"] / result["seconds"]
    ratio = rate / ceiling if ceiling else 1.0
    extra = ""
    if "written" in result:
        extra = (
            f"  ({result['written']:,} written; importer {result['own_peak_mb']:.0f} MB "
            f"+ reader {result['reader_peak_mb']:.0f} MB)"
        )
    print(
        f"{name:<18} {result['rows']:>10,} rows in {result['seconds']:7.1f} s  "
        f"{rate:>9,.0f} rows/s  {ratio:5.0%} of csv  peak {result['peak_mb']:6.0f} MB  "
        f"(cpu {result['cpu_seconds']:.1f} s){extra}"
    )
    return ceiling is None or (ratio >= TARGET_RATIO and result["peak_mb"] < TARGET_PEAK_MB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic file")
    parser.add_argument("--file", type=Path, help="use this NPPES file instead of writing one")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each measurement; the fastest is shown"
    )
    parser.add_argument("--child", choices=("csv", "import"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.measure:
        child_measure(options.command)
        return
    if options.child == "csv":
        print(json.dumps(child_csv(options.file)))
        return
    if options.child == "import":
        print(json.dumps(child_import(options.file, options.database_url, options.workdir)))
        return

    with tempfile.TemporaryDirectory(prefix="curbside-bench-") as folder:
        workdir = Path(folder)
        path = options.file
        if path is None:
            path = workdir / "npidata_pfile_synthetic.csv"
            began = time.perf_counter()
            write_file(path, options.rows)
            size = path.stat().st_size
            seconds = time.perf_counter() - began
            print(
                f"Wrote {options.rows:,} rows ({size / 2**20:,.0f} MB, "
                f"{size / max(options.rows, 1):,.0f} bytes a row) in {seconds:.0f} s"
            )
        print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} before measuring")
        ceiling_result = fastest(
            measure("--child", "csv", "--file", str(path)) for _ in range(options.repeat)
        )
        ceiling = ceiling_result["rows"] / ceiling_result["seconds"]
        report("csv module alone", ceiling_result, None)
        passed = True
        for database in options.databases.split(","):
            result = fastest(
                import_once(database, path, workdir, attempt) for attempt in range(options.repeat)
            )
            passed = report(f"import {database}", result, ceiling) and passed
        print(f"load average {os.getloadavg()[0]:.1f} after")
        print(
            f"Target: at least {TARGET_RATIO:.0%} of the csv-only rate and under "
            f"{TARGET_PEAK_MB} MB on each database: {'met' if passed else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
