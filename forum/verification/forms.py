"""Verification forms: the credential form, proof documents, answers, and the hospital list."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize, MultipleFileField
from wtforms import Field, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from forum.verification.documents import MAX_BYTES
from forum.verification.npi import NpiError, normalise_npi
from forum.verification.services import ANSWER_MAX_LENGTH, ORGANISATION_MAX_LENGTH
from forum.verification.states import STATES
from forum.verification.taxonomy import SPECIALTIES

TOO_LARGE = "This file is larger than 10 MB; send a smaller scan or photo."
_FILES = {"accept": "application/pdf,image/png,image/jpeg,.pdf,.png,.jpg,.jpeg"}
_FILES_HINT = "PDF, PNG or JPEG, up to 10 MB each, at most 5 per claim."


def _state_choices(blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank)] + [SelectChoice(code, name) for code, name in STATES]


def _specialty_choices() -> list[SelectChoice]:
    blank = SelectChoice("", "Choose your specialty")
    return [blank] + [SelectChoice(item.slug, item.name) for item in SPECIALTIES]


def _size_limit() -> FileSize:
    return FileSize(MAX_BYTES, message=TOO_LARGE)


class CredentialForm(FlaskForm):
    """Who the member is as a physician: NPI, legal name, state, licence and specialty."""

    npi = StringField(
        "National Provider Identifier (NPI)",
        description="The 10 digits of your NPI, as on your NPPES record.",
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"},
    )
    first_name = StringField(
        "Legal first name",
        validators=[DataRequired("Enter your legal first name."), Length(max=80)],
        description="As the NPPES registry holds it.",
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Legal last name",
        validators=[DataRequired("Enter your legal last name."), Length(max=80)],
        render_kw={"autocomplete": "family-name"},
    )
    practice_state = SelectField(
        "Practice state",
        choices=_state_choices("Choose a state"),
        validators=[DataRequired("Choose the state where you practise.")],
    )
    licence_number = StringField(
        "State medical licence number (optional)",
        validators=[Optional(), Length(max=40)],
        description="Give it with its state, or leave both empty.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    licence_state = SelectField(
        "State that issued the licence (optional)",
        choices=_state_choices("No licence given"),
        validators=[Optional()],
    )
    specialty = SelectField(
        "Specialty",
        choices=_specialty_choices(),
        validators=[DataRequired("Choose your specialty.")],
        description="The community you join once verified.",
    )
    documents = MultipleFileField(
        "Proof that the NPI is yours (optional)",
        validators=[_size_limit()],
        description="A licence certificate or hospital badge. " + _FILES_HINT,
        render_kw=_FILES,
    )

    def validate_npi(self, field: Field) -> None:
        """The check digit, at once, with the reason beside the field."""
        try:
            normalise_npi(field.data or "")
        except NpiError as error:
            raise ValidationError(str(error)) from None


class DocumentForm(FlaskForm):
    """One proof document for an open claim."""

    document = FileField(
        "Licence certificate or hospital badge",
        validators=[FileRequired("Choose a file to send."), _size_limit()],
        description=_FILES_HINT,
        render_kw=_FILES,
    )


class MoreInfoForm(FlaskForm):
    """The member's answer to a verifier's request for more."""

    answer = TextAreaField(
        "Your answer",
        validators=[
            DataRequired("Write your answer."),
            Length(max=ANSWER_MAX_LENGTH, message="Keep the answer to 2,000 characters."),
        ],
        render_kw={"rows": 5, "maxlength": ANSWER_MAX_LENGTH},
    )
    documents = MultipleFileField(
        "Documents (optional)",
        validators=[_size_limit()],
        description=_FILES_HINT,
        render_kw=_FILES,
    )


class HospitalDomainForm(FlaskForm):
    """A hospital's or health system's e-mail domain."""

    domain = StringField(
        "E-mail domain",
        validators=[DataRequired("Enter a domain like hospital.org."), Length(max=253)],
        description="Addresses at this domain and its subdomains count as proof.",
        render_kw={"spellcheck": "false", "autocapitalize": "none", "autocomplete": "off"},
    )
    organisation = StringField(
        "Hospital or health system",
        validators=[
            DataRequired("Name the hospital or health system."),
            Length(max=ORGANISATION_MAX_LENGTH),
        ],
    )
