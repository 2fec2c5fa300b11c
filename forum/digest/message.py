"""The digest as an e-mail: plain text and HTML, absolute links, one-click unsubscribe headers.

A digest run sends thousands of messages, and the email package's composing and flattening
took most of a run's time, so digests are written straight to bytes: ASCII headers we build
ourselves (the subject as an encoded word when it is not ASCII) and two quoted-printable
UTF-8 parts. Every line ends in CRLF, as SMTP wants.
"""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import formatdate, parseaddr
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from jinja2 import Template

from forum.accounts.tokens import Purpose, make_token
from forum.digest.content import CACHE_MAX, Digest, Recipient


@dataclass(frozen=True)
class Outgoing:
    """A finished message: the envelope and the bytes to hand to the server."""

    sender: str
    recipient: str
    raw: bytes


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Links:
    """Absolute links built from FORUM_BASE_URL (as forum.mail.absolute_url), bound once a run."""

    def __init__(self) -> None:
        base = urlsplit(current_app.config["BASE_URL"])
        self._adapter = current_app.url_map.bind(
            base.netloc, script_name=base.path or "/", url_scheme=base.scheme
        )
        self._threads: dict[int, str] = {}

    def url(self, endpoint: str, **values: Any) -> str:
        """An absolute link to a page of the site."""
        return self._adapter.build(endpoint, values, force_external=True)

    def thread(self, thread_id: int) -> str:
        """A thread's absolute link (the same threads recur in many digests)."""
        found = self._threads.get(thread_id)
        if found is None:
            if len(self._threads) >= CACHE_MAX:
                self._threads.clear()
            found = self._threads[thread_id] = self.url("cases.thread", thread_id=thread_id)
        return found

    def unsubscribe(self, user_id: int) -> str:
        """The signed one-click unsubscribe link of a member; works without signing in."""
        token = make_token(Purpose.DIGEST_UNSUBSCRIBE, {"user": user_id})
        return self.url("digest.unsubscribe", token=token)


def local_time(moment: datetime, time_zone: str) -> str:
    """A moment in the member's own time zone, as a digest shows it."""
    return moment.astimezone(_zone(time_zone)).strftime("%a %d %b, %H:%M %Z")


def subject(digest: Digest) -> str:
    """The subject line: the week and its busiest section."""
    followed = digest.new_replies
    if followed:
        extra = f"{followed} new repl{'y' if followed == 1 else 'ies'} in threads you follow"
    elif digest.community_name:
        extra = f"this week in {digest.community_name}"
    else:
        extra = "your week"
    return f"Curbside digest {digest.recipient.iso_week}: {extra}"


def _template(name: str) -> Template:
    # Straight from the environment: the digest needs no request context processors.
    return current_app.jinja_env.get_template(name)


def render(digest: Digest, links: Links, unsubscribe_url: str | None = None) -> tuple[str, str]:
    """The plain-text and HTML bodies of a digest (its text autoescaped in the HTML)."""
    context = {
        "digest": digest,
        "thread_url": links.thread,
        "settings_url": links.url("digest.settings"),
        "unsubscribe_url": unsubscribe_url or links.unsubscribe(digest.recipient.user_id),
        "local": lambda moment: local_time(moment, digest.recipient.time_zone),
    }
    return (
        _template("digest/email.txt").render(context),
        _template("digest/email.html").render(context),
    )


def _header(value: str) -> str:
    """A header value as ASCII: an encoded word when it is not, and never a line break."""
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8").encode(maxlinelen=998)


def _part(text: str, subtype: str, boundary: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").replace("\n", "\r\n").encode(), istext=True)
    return (
        (
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        + body
        + b"\r\n"
    )


def message_id(recipient: Recipient) -> str:
    """The digest's Message-ID: the same for every send of one member's week."""
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "curbside.invalid"
    return f"<digest.{recipient.iso_week}.{recipient.user_id}@{host}>"


def compose(digest: Digest, links: Links) -> Outgoing:
    """The e-mail of one digest, with List-Unsubscribe headers for one-click unsubscribe."""
    unsubscribe_url = links.unsubscribe(digest.recipient.user_id)  # one token in header and body
    plain, html = render(digest, links, unsubscribe_url)
    config = current_app.config
    boundary = f"=_digest_{secrets.token_hex(12)}"
    headers = {
        "From": config["MAIL_FROM"],
        "To": digest.recipient.email,
        "Subject": subject(digest),
        "Date": formatdate(localtime=False),
        # One id per member and week: a digest sent again after a crash is the same message.
        "Message-ID": message_id(digest.recipient),
        # RFC 8058: a POST of "List-Unsubscribe=One-Click" to this address unsubscribes at
        # once. One token on one line: clients do not unfold or decode this header reliably.
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/alternative; boundary="{boundary}"',
    }
    head = "".join(f"{name}: {_header(value)}\r\n" for name, value in headers.items())
    raw = b"".join(
        (
            head.encode("ascii"),
            b"\r\n",
            _part(plain, "plain", boundary),
            _part(html, "html", boundary),
            f"--{boundary}--\r\n".encode(),
        )
    )
    return Outgoing(parseaddr(config["MAIL_FROM"])[1], digest.recipient.email, raw)
