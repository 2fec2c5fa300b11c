"""The weekly digest: preferences, building, sending, unsubscribing."""
