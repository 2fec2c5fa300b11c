"""Members: registration, e-mail confirmation, sign-in, TOTP, recovery codes, sessions."""
