"""Outgoing mail: SMTP in production, .eml files under instance/outbox in development."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from secrets import token_hex
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import current_app, render_template

from forum.extensions import utcnow

log = logging.getLogger(__name__)


class MailError(Exception):
    """A message could not be handed to the mail server."""


class Transport(Protocol):
    """Something that delivers messages, opened once for a batch."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


def absolute_url(endpoint: str, **values: Any) -> str:
    """A link to a page, built from FORUM_BASE_URL rather than the request's Host header."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def compose(
    to: str,
    subject: str,
    template: str,
    headers: Mapping[str, str] | None = None,
    folder: str = "email",
    **context: Any,
) -> EmailMessage:
    """A message with plain-text and HTML parts from templates/<folder>/<template>.txt/.html."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(render_template(f"{folder}/{template}.txt", **context))
    message.add_alternative(render_template(f"{folder}/{template}.html", **context), subtype="html")
    return message


class SMTPTransport:
    """One SMTP connection, opened on the first message and reused for the rest."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.connection: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.get("SMTP_CA_FILE") or None)

    def _connect(self) -> smtplib.SMTP:
        host, port = self.config["SMTP_HOST"], self.config["SMTP_PORT"]
        timeout, security = self.config["SMTP_TIMEOUT"], self.config["SMTP_SECURITY"]
        connection: smtplib.SMTP
        if security == "tls":
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._context())
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if security == "starttls":
                connection.starttls(context=self._context())
            if self.config.get("SMTP_USERNAME"):
                password = self.config.get("SMTP_PASSWORD") or ""
                connection.login(self.config["SMTP_USERNAME"], password)
        except BaseException:
            connection.close()  # a refused STARTTLS or login must not leave the socket open
            raise
        return connection

    def send(self, message: EmailMessage) -> None:
        """Send one message; raises MailError when the server refuses it or is unreachable."""
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise MailError("recipient refused") from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise MailError(type(error).__name__) from error

    def send_raw(self, sender: str, recipient: str, raw: bytes) -> None:
        """Send an already serialised message (bulk mail builds bytes once); smtplib's errors
        pass through so the caller can tell a refused recipient from a dead server."""
        if self.connection is None:
            self.connection = self._connect()
        self.connection.sendmail(sender, [recipient], raw)

    def close(self) -> None:
        """Say goodbye to the server, ignoring a connection that already died."""
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        self.connection = None


class FileTransport:
    """Development mail: each message becomes an .eml file a newcomer can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write the message to the outbox folder and log where it went."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{token_hex(4)}.eml"
        path.write_bytes(message.as_bytes())
        log.info("Mail written to %s", path)

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def transport() -> Iterator[Transport]:
    """The configured transport, closed when the batch ends."""
    config = current_app.config
    chosen: Transport
    if config["MAIL_BACKEND"] == "smtp":
        chosen = SMTPTransport(config)
    else:
        chosen = FileTransport(Path(config["INSTANCE_PATH"]) / "outbox")
    try:
        yield chosen
    finally:
        chosen.close()


def send(message: EmailMessage) -> None:
    """Deliver one message now; raises MailError on failure."""
    with transport() as chosen:
        chosen.send(message)


def send_quietly(message: EmailMessage) -> bool:
    """Deliver one message, logging (without addresses) instead of raising on failure."""
    try:
        send(message)
    except MailError as error:
        log.warning("Mail could not be sent: %s", error)
        return False
    return True
