"""Moderation: the review queue, flags, watched words, the site allow-list and moderator actions."""
