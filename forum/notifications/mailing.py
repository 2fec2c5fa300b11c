"""The e-mail channel: messages queued during a transaction and sent only once it commits.

The fan-out runs inside the event's own transaction, so its mail waits on the session until the
commit; a rollback drops it. Messages carry the thread's title (published threads only), a short
snippet of published text where the kind has one, and a link: never held or rejected text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from forum import mail

log = logging.getLogger(__name__)

_QUEUE = "notification_mail"


@dataclass(frozen=True)
class QueuedMail:
    """One notification e-mail, as plain values (nothing is read after the commit)."""

    to: str
    name: str
    kind: str
    subject: str
    title: str
    actor_label: str
    snippet: str
    link: str


def queue(session: Session, message: QueuedMail) -> None:
    """Send this message once the session's transaction commits."""
    session.info.setdefault(_QUEUE, []).append(message)


def _message(item: QueuedMail) -> EmailMessage:
    """The message, from templates/notifications/email.*."""
    context: dict[str, Any] = {"item": item, "link": item.link, "label": "Open on Curbside"}
    return mail.compose(item.to, item.subject, "email", folder="notifications", **context)


def _send_queued(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the real commit is still to come
    queued: list[QueuedMail] = session.info.pop(_QUEUE, [])
    if not queued or not has_app_context():
        return
    with mail.transport() as transport:
        for item in queued:
            message = _message(item)
            try:
                transport.send(message)
            except mail.MailError as error:
                # The notification is in the list either way; the e-mail waits for a retry.
                log.warning("Notification e-mail (%s) not sent: %s", item.kind, error)
                mail.keep_for_retry(message, error)


def _drop_queued(session: Session, transaction: SessionTransaction) -> None:
    # After the outermost transaction ends, anything still queued belongs to a rollback.
    if transaction.parent is None:
        session.info.pop(_QUEUE, None)


def install() -> None:
    """Attach the send and drop hooks to every ORM session (once per process)."""
    if not event.contains(Session, "after_commit", _send_queued):
        event.listen(Session, "after_commit", _send_queued)
        event.listen(Session, "after_transaction_end", _drop_queued)
