"""Outgoing mail: SMTP in production, .eml files under instance/outbox in development.

A message the SMTP server cannot take now (it is down, or answers "try later") is kept in
instance/mail-queue/ and sent by `flask mail retry` (cron, every few minutes) once the server is
back. Delivery from the queue is at least once: a retry run that dies between the server's
acceptance and removing the file sends that one message again after STALE_SENDING.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from secrets import token_hex
from typing import Any, Protocol
from urllib.parse import urlsplit

import click
from flask import current_app, render_template
from flask.cli import AppGroup

from forum.extensions import utcnow

log = logging.getLogger(__name__)

QUEUE_FOLDER = "mail-queue"  # under the instance folder
# Older queued mail is dropped: the links in account mail expire within 48 hours.
QUEUE_MAX_AGE = timedelta(days=2)
# A message a retry run took but neither sent nor put back (the run died) is taken again then.
STALE_SENDING = timedelta(hours=1)
_STAMP = "%Y%m%dT%H%M%S"


class MailError(Exception):
    """A message could not be handed to the mail server.

    `refused`: the server answered and turned this message down (the next one may go);
    `permanent`: for good (5xx), so retrying it is futile.
    """

    def __init__(self, message: str, *, refused: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.refused = refused
        self.permanent = permanent


def _refusal(message: str, error: smtplib.SMTPException | OSError) -> MailError:
    """A MailError saying whether the server refused this message, and whether for good."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return MailError(message, refused=True, permanent=all(code >= 500 for code in codes))
    if isinstance(error, smtplib.SMTPDataError):
        return MailError(message, refused=True, permanent=error.smtp_code >= 500)
    return MailError(message)  # the connection, the handshake or our settings: all may pass


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
            raise _refusal("recipient refused", error) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise _refusal(type(error).__name__, error) from error

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
    """Deliver one message, logging (without addresses) instead of raising on failure; a
    message the server cannot take now is kept for `flask mail retry`."""
    try:
        send(message)
    except MailError as error:
        log.warning("Mail could not be sent: %s", error)
        keep_for_retry(message, error)
        return False
    return True


# --- The queue of mail to retry -----------------------------------------------------------------


def _queue_folder() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / QUEUE_FOLDER


def keep_for_retry(message: EmailMessage, error: MailError) -> None:
    """Queue a message that failed for a reason that may pass; never raises."""
    if error.permanent:
        return
    try:
        defer(message)
    except OSError as problem:
        log.error("Mail could not be queued for a retry either: %s", type(problem).__name__)


def defer(message: EmailMessage) -> Path:
    """Write the message into the queue whole (a crash leaves at most a .tmp file)."""
    folder = _queue_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{utcnow():{_STAMP}}-{token_hex(8)}"
    partial = folder / f"{name}.tmp"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(message.as_bytes())
        handle.flush()
        os.fsync(handle.fileno())
    path = partial.replace(folder / f"{name}.eml")
    log.info("Mail queued for a retry as %s", path.name)
    return path


@dataclass
class RetryReport:
    """What a retry run did with the queue."""

    sent: int = 0
    dropped: int = 0  # refused for good, or older than QUEUE_MAX_AGE
    waiting: int = 0  # still queued: the server is still unreachable


def _queued_at(path: Path) -> datetime:
    try:
        return datetime.strptime(path.name[: len("20260101T000000")], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)  # not a name we gave: old enough to drop


def _take_back_stale(folder: Path, now: datetime) -> None:
    """Queue again what a retry run took and then died with (its claim time is the mtime), and
    remove what a process died writing (.tmp: never complete, never sent)."""
    for path in [*folder.glob("*.sending"), *folder.glob("*.tmp")]:
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) > now - STALE_SENDING:
                continue
            if path.suffix == ".tmp":
                path.unlink()
            else:
                path.rename(path.with_suffix(".eml"))
        except FileNotFoundError:
            continue  # another run dealt with it meanwhile


def _take(path: Path) -> Path | None:
    """Claim a queued message: of two runs at once, one renames it and the other skips it."""
    sending = path.with_suffix(".sending")
    try:
        path.rename(sending)
    except FileNotFoundError:
        return None
    os.utime(sending)  # the claim's time
    return sending


def retry_queued(now: datetime | None = None) -> RetryReport:
    """Send the queued mail, oldest first; stop at the first sign the server is still down.

    A message the server turns down for now (4xx) waits for the next run behind the others;
    one it refuses for good (5xx) is dropped.
    """
    now = now or utcnow()
    report = RetryReport()
    folder = _queue_folder()
    if not folder.is_dir():
        return report
    _take_back_stale(folder, now)
    queued = sorted(folder.glob("*.eml"))
    if not queued:  # the usual cron run: no connection to the server for nothing
        return report
    with transport() as chosen:
        for path in queued:
            sending = _take(path)
            if sending is None:
                continue
            if _queued_at(path) < now - QUEUE_MAX_AGE:
                sending.unlink()
                report.dropped += 1
                continue
            message = email.message_from_bytes(sending.read_bytes(), policy=email.policy.default)
            try:
                chosen.send(message)
            except MailError as error:
                if error.permanent:
                    sending.unlink()
                    report.dropped += 1
                    continue
                sending.rename(path)
                if error.refused:
                    continue
                break
            sending.unlink()
            report.sent += 1
    report.waiting = sum(1 for _ in folder.glob("*.eml"))
    if report.sent or report.dropped:
        log.info(
            "Mail queue: %s sent, %s dropped, %s waiting",
            report.sent, report.dropped, report.waiting,
        )  # fmt: skip
    return report


mail_cli = AppGroup("mail", help="Mail the server could not take at once.")


@mail_cli.command("retry")
def retry_command() -> None:
    """Send the mail queued while the server was unreachable (cron, every few minutes)."""
    report = retry_queued()
    click.echo(
        f"{report.sent:,} sent, {report.dropped:,} dropped, {report.waiting:,} still waiting."
    )
