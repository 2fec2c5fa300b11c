"""Write forum/verification/data/demo_registry.csv: a small synthetic NPPES file for demo sites.

The header is the real 330-column one, copied from ../shared/nppes/npidata_sample.csv; the
providers are invented, with NPIs that pass the check digit, and named after the demo accounts in
forum/demo.py so that `flask demo seed` can verify them. Every value is quoted, as CMS writes.

    python3 scripts/make_demo_registry.py
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "nppes" / "npidata_sample.csv"
TARGET = ROOT / "forum" / "verification" / "data" / "demo_registry.csv"


def npi_from(base9: str) -> str:
    """The NPI with its check digit: Luhn over 80840 + the nine digits (CMS's rule)."""
    total = 0
    for position, char in enumerate(reversed("80840" + base9)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return base9 + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Slot:
    """One taxonomy slot: code, primary switch, licence number and its state."""

    code: str
    primary: bool = True
    licence: str = ""
    state: str = ""


@dataclass(frozen=True)
class Provider:
    """One invented NPPES record."""

    number: int  # the NPI is 100000<number:03d> plus its check digit
    entity: str
    last: str = ""
    first: str = ""
    middle: str = ""
    credential: str = ""
    organisation: str = ""
    city: str = ""
    state: str = ""
    slots: tuple[Slot, ...] = ()
    other_last: str = ""
    deactivated: str = ""
    last_update: str = "01/15/2025"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def npi(self) -> str:
        return npi_from(f"100000{self.number:03d}")


# Numbers below 1003000000: CMS files sorted by NPI start above them, so none should be real.
PROVIDERS = (
    # The demo accounts of forum/demo.py, verified ones first.
    Provider(11, "1", "LOVELACE", "ADA", "", "MD", city="BOSTON", state="MA",
             slots=(Slot("207R00000X", True, "MD201815", "MA"),)),
    Provider(12, "1", "HUGO", "VICTOR", "M", "MD", city="PORTLAND", state="OR",
             slots=(Slot("207Q00000X", True, "MD180226", "OR"),)),
    Provider(13, "1", "HATOUM", "MONA", "", "M.D.", city="CHICAGO", state="IL",
             slots=(Slot("2084P0800X", True, "036152947", "IL"),)),
    Provider(14, "1", "FERREIRA", "CARLA", "S", "MD", city="MIAMI", state="FL",
             slots=(Slot("207R00000X", False, "ME118204", "FL"),
                    Slot("207RC0000X", True, "ME118204", "FL"))),
    Provider(15, "1", "OKAFOR", "EMIL", "C", "DO", city="HOUSTON", state="TX",
             slots=(Slot("207P00000X", True, "Q4471", "TX"),)),
    Provider(16, "1", "LINDQVIST", "NORA", "", "MD, PHD", city="MINNEAPOLIS", state="MN",
             slots=(Slot("2084N0400X", True, "62518", "MN"),)),
    # The newcomer: a paediatrician whose address is at the demo hospital (automatic path).
    Provider(17, "1", "PARK", "NATHAN", "JAMES", "MD", city="SEATTLE", state="WA",
             slots=(Slot("208000000X", True, "MD60712345", "WA"),)),
    # In private practice, with no hospital address: verified by a verifier from a document.
    Provider(18, "1", "ROSSI", "PIA", "", "MD", city="ALBANY", state="NY",
             slots=(Slot("207Q00000X", True, "287341", "NY"),)),
    # A physician registered under a former name as well.
    Provider(19, "1", "SANTOS", "JULIA", "", "MD", city="DENVER", state="CO",
             slots=(Slot("207V00000X", True, "DR.0061234", "CO"),), other_last="BRANDT"),
    # Deactivated: NPPES publishes such a record with its NPI and date only.
    Provider(20, "", deactivated="03/15/2024", last_update=""),
    # Not physicians: an organisation, an audiologist, a resident in training (review).
    Provider(21, "2", organisation="CURBSIDE DEMO HOSPITAL", city="SEATTLE", state="WA",
             slots=(Slot("282N00000X", True, "HAC.FS.60012345", "WA"),)),
    Provider(22, "1", "VOGEL", "IRENE", "", "AUD", city="SEATTLE", state="WA",
             slots=(Slot("231H00000X", True, "AU60076543", "WA"),)),
    Provider(23, "1", "MEHTA", "ROHAN", "", "MD", city="SEATTLE", state="WA",
             slots=(Slot("390200000X", True, "", ""),)),
)  # fmt: skip


def header() -> list[str]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def row_for(provider: Provider, columns: list[str]) -> list[str]:
    values = dict.fromkeys(columns, "")
    values["NPI"] = provider.npi
    values["NPI Deactivation Date"] = provider.deactivated
    values["Last Update Date"] = provider.last_update
    if not provider.entity:
        return [values[name] for name in columns]
    values.update(
        {
            "Entity Type Code": provider.entity,
            "Provider Organization Name (Legal Business Name)": provider.organisation,
            "Provider Last Name (Legal Name)": provider.last,
            "Provider First Name": provider.first,
            "Provider Middle Name": provider.middle,
            "Provider Credential Text": provider.credential,
            "Provider Other Last Name": provider.other_last,
            "Provider Other First Name": provider.first if provider.other_last else "",
            "Provider Other Last Name Type Code": "1" if provider.other_last else "",
            "Provider Enumeration Date": "06/01/2012",
            "Provider Business Practice Location Address City Name": provider.city,
            "Provider Business Practice Location Address State Name": provider.state,
            "Provider Business Practice Location Address Country Code (If outside U.S.)": "US",
            "Provider Business Mailing Address City Name": provider.city,
            "Provider Business Mailing Address State Name": provider.state,
            "Provider Business Mailing Address Country Code (If outside U.S.)": "US",
        }
    )
    if provider.entity == "1":
        values["Is Sole Proprietor"] = "N"
    else:
        values["Is Organization Subpart"] = "N"
    for number, slot in enumerate(provider.slots, start=1):
        values[f"Healthcare Provider Taxonomy Code_{number}"] = slot.code
        values[f"Healthcare Provider Primary Taxonomy Switch_{number}"] = (
            "Y" if slot.primary else "N"
        )
        values[f"Provider License Number_{number}"] = slot.licence
        values[f"Provider License Number State Code_{number}"] = slot.state
    return [values[name] for name in columns]


def main() -> None:
    columns = header()
    with TARGET.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(columns)
        for provider in PROVIDERS:
            writer.writerow(row_for(provider, columns))
    print(f"Wrote {len(PROVIDERS)} providers to {TARGET.relative_to(ROOT)}")
    for provider in PROVIDERS:
        name = (
            provider.organisation or f"{provider.first} {provider.last}".strip() or "(deactivated)"
        )
        print(f"  {provider.npi}  {name}")


if __name__ == "__main__":
    main()
