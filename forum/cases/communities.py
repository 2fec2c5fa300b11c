"""The specialty communities: one per taxonomy specialty, each with its practitioner noun."""

from __future__ import annotations

import sqlalchemy as sa

from forum.accounts.models import User
from forum.cases.models import Community
from forum.extensions import db
from forum.verification.taxonomy import SPECIALTIES

# The noun anonymous aliases use ("Anonymous cardiologist 2"), per community slug.
PRACTITIONERS: dict[str, str] = {
    "allergy-immunology": "allergist",
    "anaesthesiology": "anaesthesiologist",
    "cardiology": "cardiologist",
    "critical-care": "intensivist",
    "dermatology": "dermatologist",
    "emergency-medicine": "emergency physician",
    "endocrinology": "endocrinologist",
    "family-medicine": "family physician",
    "gastroenterology": "gastroenterologist",
    "haematology-oncology": "haematologist-oncologist",
    "infectious-diseases": "infectious diseases physician",
    "internal-medicine": "internist",
    "medical-genetics": "medical geneticist",
    "nephrology": "nephrologist",
    "neurology": "neurologist",
    "obstetrics-gynaecology": "obstetrician-gynaecologist",
    "ophthalmology": "ophthalmologist",
    "orthopaedics": "orthopaedic surgeon",
    "otolaryngology": "otolaryngologist",
    "paediatrics": "paediatrician",
    "palliative-care": "palliative care physician",
    "pathology": "pathologist",
    "physical-medicine": "physiatrist",
    "preventive-medicine": "preventive medicine physician",
    "psychiatry": "psychiatrist",
    "pulmonology": "pulmonologist",
    "radiology": "radiologist",
    "rheumatology": "rheumatologist",
    "surgery": "surgeon",
    "urology": "urologist",
}

# For a member whose specialty is not (yet) known.
DEFAULT_PRACTITIONER = "physician"


def practitioner_for(slug: str | None) -> str:
    """The practitioner noun of a specialty slug ("physician" when unknown)."""
    return PRACTITIONERS.get(slug or "", DEFAULT_PRACTITIONER)


def community_rows() -> list[dict[str, object]]:
    """Every community as a plain row: what a data migration inserts.

    In a migration: ``op.bulk_insert(sa.table("community", sa.column("slug"), sa.column("name"),
    sa.column("practitioner"), sa.column("thread_count")), community_rows())``.
    """
    return [
        {
            "slug": specialty.slug,
            "name": specialty.name,
            "practitioner": practitioner_for(specialty.slug),
            "thread_count": 0,
        }
        for specialty in SPECIALTIES
    ]


def ensure_communities() -> int:
    """Create the communities that do not exist yet (safe to run again); returns how many."""
    present = set(db.session.scalars(sa.select(Community.slug)))
    created = 0
    for row in community_rows():
        if row["slug"] in present:
            continue
        db.session.add(
            Community(
                slug=str(row["slug"]), name=str(row["name"]), practitioner=str(row["practitioner"])
            )
        )
        created += 1
    db.session.commit()
    return created


def all_communities() -> list[Community]:
    """Every community, by name."""
    return list(db.session.scalars(sa.select(Community).order_by(Community.name)))


def community_by_slug(slug: str) -> Community | None:
    """The community with this slug, if any."""
    if len(slug) > 40:
        return None
    return db.session.scalar(sa.select(Community).where(Community.slug == slug))


def home_community(member: User) -> Community | None:
    """The community of the member's verified specialty, if it exists."""
    if not member.specialty:
        return None
    return community_by_slug(member.specialty)
