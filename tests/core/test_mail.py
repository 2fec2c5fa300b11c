"""Outgoing mail: .eml files in development, SMTP (with STARTTLS) in production."""

from __future__ import annotations

import email
import email.policy
import gc
import ipaddress
import logging
import re
import ssl
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from werkzeug.test import TestResponse

from forum import mail
from forum.accounts.models import User
from forum.extensions import db
from tests.conftest import FormClient, Mailbox, _Handler, body_text, first_link, free_port
from tests.factories import make_user


def password_notice(to: str = "doc@hospital.example") -> EmailMessage:
    """A real message from the site's templates (inside an app context)."""
    user = User(display_name="Dr Example")
    return mail.compose(to, "Your Curbside password was changed", "password_changed", user=user)


def html_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


@contextmanager
def no_leaked_sockets() -> Iterator[None]:
    """Fail if a socket opened inside the block is left for the garbage collector to close."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == []


# --- Development: files -------------------------------------------------------------------------


def test_the_file_backend_writes_an_eml_file_and_logs_its_path(
    build_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(MAIL_BACKEND="file")
    caplog.set_level(logging.INFO, logger="forum")
    with app.app_context():
        mail.send(password_notice("doc@hospital.example"))

    outbox = Path(app.instance_path) / "outbox"
    files = list(outbox.glob("*.eml"))
    assert len(files) == 1
    assert str(files[0]) in caplog.text
    written = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(written, EmailMessage)
    assert written["To"] == "doc@hospital.example"
    assert written["Subject"] == "Your Curbside password was changed"
    assert "Dr Example" in body_text(written)


def test_each_message_gets_its_own_file(build_app: Callable[..., Flask]) -> None:
    app = build_app(MAIL_BACKEND="file")
    with app.app_context():
        for _ in range(3):
            mail.send(password_notice())
    assert len(list((Path(app.instance_path) / "outbox").glob("*.eml"))) == 3


def test_a_development_sign_up_leaves_the_confirmation_in_the_outbox(
    build_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    app = build_app(MAIL_BACKEND="file")
    client: FormClient = app.test_client()  # type: ignore[assignment]
    client.post(
        "/sign-up",
        data={
            "email": "newcomer@hospital.example",
            "display_name": "Dr Newcomer",
            "first_name": "Nora",
            "last_name": "Newcomer",
            "password": "a long and unusual passphrase",
            "password_confirm": "a long and unusual passphrase",
        },
    )
    files = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert first_link(message).startswith("http://curbside.example/confirm/")
    assert mailbox.messages == []  # nothing went over SMTP


# --- Production: SMTP ---------------------------------------------------------------------------


def test_smtp_delivers_a_message_with_text_and_html_parts(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        mail.send(password_notice("doc@hospital.example"))

    message = mailbox.last_to("doc@hospital.example")
    assert message.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "Dr Example" in body_text(message)
    assert "<p>" in html_text(message)
    assert message["From"] == app.config["MAIL_FROM"]
    assert message["Date"]
    assert str(message["Message-ID"]).endswith("@curbside.example>")
    assert mailbox.envelopes == [("no-reply@curbside.invalid", ["doc@hospital.example"])]


def test_mail_can_be_composed_and_sent_outside_a_request(app: Flask, mailbox: Mailbox) -> None:
    # What a scheduled job (the weekly digest, say) does from the shell.
    with app.app_context():
        member = make_user(email="weekly@hospital.example")
        user = db.session.get(User, member.id)
        assert user is not None
        link = mail.absolute_url("accounts.sign_in")
        mail.send(
            mail.compose(user.email, "Confirm", "confirm_email", user=user, link=link, hours=48)
        )
    assert "http://curbside.example/sign-in" in body_text(mailbox.last_to(member.email))


def test_a_refused_recipient_raises_mail_error(app: Flask, mailbox: Mailbox) -> None:
    mailbox.refuse.add("gone@hospital.example")
    with app.app_context(), pytest.raises(mail.MailError, match="recipient refused"):
        mail.send(password_notice("gone@hospital.example"))


def test_a_dead_smtp_server_raises_mail_error(build_app: Callable[..., Flask]) -> None:
    app = build_app(SMTP_PORT=free_port())  # nothing listens there
    with app.app_context(), pytest.raises(mail.MailError):
        mail.send(password_notice())


@pytest.mark.parametrize(
    "settings",
    [
        {"SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "relay-password"},  # no AUTH offered
        {"SMTP_SECURITY": "starttls"},  # no STARTTLS offered
    ],
    ids=["failed login", "failed starttls"],
)
def test_a_failed_smtp_handshake_leaves_no_connection_open(
    build_app: Callable[..., Flask], mailbox: Mailbox, settings: dict[str, str]
) -> None:
    app = build_app(**settings)
    with no_leaked_sockets(), app.app_context(), pytest.raises(mail.MailError):
        mail.send(password_notice())
    assert mailbox.messages == []


def test_send_quietly_reports_a_dead_server_without_raising_or_naming_the_recipient(
    build_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(SMTP_PORT=free_port())
    caplog.set_level(logging.INFO)
    with app.app_context():
        assert mail.send_quietly(password_notice("private.person@hospital.example")) is False
    assert "Mail could not be sent" in caplog.text
    assert "private.person" not in caplog.text


def test_send_quietly_says_true_when_the_message_went(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        assert mail.send_quietly(password_notice("doc@hospital.example")) is True
    assert len(mailbox.to("doc@hospital.example")) == 1


# --- STARTTLS -----------------------------------------------------------------------------------


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Curbside test SMTP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, Mailbox]]:
    """An SMTP server that refuses mail until the client has switched to TLS."""
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    box = Mailbox()
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    yield controller.port, cert_path, box
    controller.stop()


def test_starttls_delivers_to_a_server_whose_certificate_the_ca_file_trusts(
    build_app: Callable[..., Flask], tls_server: tuple[int, Path, Mailbox]
) -> None:
    port, cert_path, box = tls_server
    app = build_app(SMTP_PORT=port, SMTP_SECURITY="starttls", SMTP_CA_FILE=str(cert_path))
    with app.app_context():
        mail.send(password_notice("doc@hospital.example"))
    assert len(box.to("doc@hospital.example")) == 1


def test_starttls_refuses_a_certificate_nobody_vouches_for(
    build_app: Callable[..., Flask], tls_server: tuple[int, Path, Mailbox]
) -> None:
    port, _, box = tls_server
    app = build_app(SMTP_PORT=port, SMTP_SECURITY="starttls")  # the system store only
    with no_leaked_sockets(), app.app_context(), pytest.raises(mail.MailError):
        mail.send(password_notice())
    assert box.messages == []


def test_plain_smtp_is_turned_away_by_a_server_that_requires_tls(
    build_app: Callable[..., Flask], tls_server: tuple[int, Path, Mailbox]
) -> None:
    port, _, box = tls_server
    app = build_app(SMTP_PORT=port, SMTP_SECURITY="none")
    with app.app_context(), pytest.raises(mail.MailError):
        mail.send(password_notice())
    assert box.messages == []


def test_implicit_tls_delivers_to_a_server_whose_certificate_the_ca_file_trusts(
    build_app: Callable[..., Flask], tmp_path: Path
) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    box = Mailbox()
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=free_port(), ssl_context=context
    )
    controller.start()
    try:
        app = build_app(SMTP_PORT=controller.port, SMTP_SECURITY="tls", SMTP_CA_FILE=str(cert_path))
        with app.app_context():
            mail.send(password_notice("doc@hospital.example"))
    finally:
        controller.stop()
    assert len(box.to("doc@hospital.example")) == 1


# --- Links --------------------------------------------------------------------------------------


def form_token(page: TestResponse) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert found, "no form token on the page"
    return found.group(1)


def test_links_in_mail_use_the_base_url_whatever_host_the_request_named(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    forged = {"Host": "evil.example"}
    token = form_token(client.get("/sign-up", headers=forged))
    response = client.post(
        "/sign-up",
        data={
            "csrf_token": token,
            "email": "newcomer@hospital.example",
            "display_name": "Dr Newcomer",
            "first_name": "Nora",
            "last_name": "Newcomer",
            "password": "a long and unusual passphrase",
            "password_confirm": "a long and unusual passphrase",
        },
        headers=forged,
    )
    assert response.status_code == 302
    message = mailbox.last_to("newcomer@hospital.example")
    assert first_link(message).startswith("http://curbside.example/confirm/")
    assert "evil.example" not in message.as_string()


def test_password_reset_links_use_the_base_url_whatever_host_the_request_named(
    app: Flask, client: FormClient, mailbox: Mailbox
) -> None:
    with app.app_context():
        member = make_user()
    forged = {"Host": "attacker.example"}
    token = form_token(client.get("/password/forgot", headers=forged))
    response = client.post(
        "/password/forgot", data={"email": member.email, "csrf_token": token}, headers=forged
    )
    assert response.status_code == 302
    message = mailbox.last_to(member.email)
    assert first_link(message).startswith("http://curbside.example/password/reset/")
    assert "attacker.example" not in message.as_string()


def test_absolute_urls_follow_a_base_url_with_a_path(build_app: Callable[..., Flask]) -> None:
    app = build_app(BASE_URL="https://example.org/curbside")
    with app.test_request_context("/", base_url="http://internal:8000"):
        link = mail.absolute_url("accounts.confirm_email", token="abc")
    assert link == "https://example.org/curbside/confirm/abc"
