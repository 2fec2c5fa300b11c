"""What a notification says, built when it is shown (or mailed) from its kind and the title."""

from __future__ import annotations

from forum.notifications.models import Decision, Kind

_DECISIONS = {
    Decision.APPROVED: "A moderator published your post in “{title}”",
    Decision.REJECTED: "A moderator did not publish your post in “{title}”",
    Decision.HIDDEN: "A moderator hid your post in “{title}”",
}


def describe(kind: str, title: str, actor: str | None = None, decision: str | None = None) -> str:
    """One line in domain words: "Anonymous cardiologist 2 replied in “Syncope on exertion”"."""
    actor = actor or "A colleague"
    if kind == Kind.REPLY:
        return f"{actor} replied in “{title}”"
    if kind == Kind.MENTION:
        return f"{actor} mentioned you in “{title}”"
    if kind == Kind.ACCEPTED:
        return f"{actor} accepted your reply as the answer to “{title}”"
    if kind == Kind.POLL_CLOSED:
        return f"The poll in “{title}” has closed: see the results"
    if kind == Kind.OUTCOME_REMINDER:
        return f"How did the patient in “{title}” do? Add the case's outcome"
    if kind == Kind.SPECIALTY_ALERT:
        return f"New case in your specialty: “{title}” by {actor}"
    if kind == Kind.VERIFICATION:
        if decision == Decision.APPROVED:
            return "You are verified: the clinical pages are open to you"
        return "Your physician verification was not approved"
    if kind == Kind.MODERATION:
        template = _DECISIONS.get(Decision(decision or Decision.APPROVED), "{title}")
        return template.format(title=title)
    return title


SUBJECTS = {
    Kind.REPLY: "New reply in a thread you follow",
    Kind.MENTION: "You were mentioned on Curbside",
    Kind.ACCEPTED: "Your reply was accepted as the answer",
    Kind.POLL_CLOSED: "A poll has closed",
    Kind.SPECIALTY_ALERT: "A new case in your specialty",
}
