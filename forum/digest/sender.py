"""Sending a batch of digests over one connection, telling refused recipients from a dead server.

SMTP goes through forum.mail's SMTPTransport (the same settings, STARTTLS and login, one
connection kept open across the batch), handing it finished bytes rather than a message to
flatten. The file backend writes .eml files as the rest of the app does in development.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from forum import mail
from forum.digest.message import Outgoing

K = TypeVar("K")

# Failures of one message; the connection can carry the rest of the batch.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: sent, or the kind of failure (never server text)."""

    sent: bool
    error: str | None = None


SENT = Outcome(True)


def _error_kind(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "recipient-refused"
    return type(error).__name__


class _SMTPBatch:
    """Raw sends on the connection an SMTPTransport opens (and closes) with its settings."""

    def __init__(self, transport: mail.SMTPTransport) -> None:
        self.transport = transport

    def send(self, outgoing: Outgoing) -> None:
        self.transport.send_raw(outgoing.sender, outgoing.recipient, outgoing.raw)


class _FileBatch:
    """Development mail: the message parsed back and written by the app's FileTransport."""

    def __init__(self, transport: mail.Transport) -> None:
        self.transport = transport

    def send(self, outgoing: Outgoing) -> None:
        parsed = email.message_from_bytes(outgoing.raw, policy=email.policy.default)
        self.transport.send(parsed)


def send_batch(
    messages: Sequence[tuple[K, Outgoing]], on_sent: Callable[[K], None] | None = None
) -> dict[K, Outcome]:
    """Send messages on one connection; a dead server fails the rest of the batch for retry.

    `on_sent` hears of each message as soon as the server has accepted it, so the caller can
    record it before the next one goes (a crash then leaves at most one send unrecorded).
    """
    outcomes: dict[K, Outcome] = {}
    with mail.transport() as transport:
        batch: _SMTPBatch | _FileBatch
        if isinstance(transport, mail.SMTPTransport):
            batch = _SMTPBatch(transport)
        else:
            batch = _FileBatch(transport)
        for index, (key, outgoing) in enumerate(messages):
            try:
                batch.send(outgoing)
            except _MESSAGE_ERRORS as error:
                outcomes[key] = Outcome(False, _error_kind(error))
            except (smtplib.SMTPException, OSError) as error:
                # The server is gone (or never answered): this and the rest wait for a retry.
                transport.close()
                failed = Outcome(False, _error_kind(error))
                outcomes.update((later, failed) for later, _ in messages[index:])
                break
            else:
                outcomes[key] = SENT
                if on_sent is not None:
                    on_sent(key)
    return outcomes
