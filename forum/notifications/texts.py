"""What a notification says, built when it is shown (or mailed) from its kind and the title."""

from __future__ import annotations

from forum.notifications.models import Decision, Kind

_DECISIONS = {
    Decision.APPROVED: "A moderator published your post in “{title}”",
    Decision.REJECTED: "A moderator did not publish your post in “{title}”",
    Decision.HIDDEN: "A moderator hid your post in “{title}”",
}


# One line per kind, in domain words; {actor} is the public label (an alias when anonymous).
_LINES: dict[str, str] = {
    Kind.REPLY: "{actor} replied in “{title}”",
    Kind.MENTION: "{actor} mentioned you in “{title}”",
    Kind.ACCEPTED: "{actor} accepted your reply as the answer to “{title}”",
    Kind.POLL_CLOSED: "The poll in “{title}” has closed: see the results",
    Kind.OUTCOME_REMINDER: "How did the patient in “{title}” do? Add the case's outcome",
    Kind.SPECIALTY_ALERT: "New case in your specialty: “{title}” by {actor}",
}
_VERIFIED = "You are verified: the clinical pages are open to you"
_NOT_VERIFIED = "Your physician verification was not approved"


def describe(kind: str, title: str, actor: str | None = None, decision: str | None = None) -> str:
    """One line in domain words: "Anonymous cardiologist 2 replied in “Syncope on exertion”"."""
    if kind == Kind.VERIFICATION:
        return _VERIFIED if decision == Decision.APPROVED else _NOT_VERIFIED
    if kind == Kind.MODERATION:
        template = _DECISIONS.get(Decision(decision or Decision.APPROVED), "{title}")
    else:
        template = _LINES.get(kind, "{title}")
    return template.format(title=title, actor=actor or "A colleague")


SUBJECTS = {
    Kind.REPLY: "New reply in a thread you follow",
    Kind.MENTION: "You were mentioned on Curbside",
    Kind.ACCEPTED: "Your reply was accepted as the answer",
    Kind.POLL_CLOSED: "A poll has closed",
    Kind.SPECIALTY_ALERT: "A new case in your specialty",
}
