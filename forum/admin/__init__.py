"""Site administration: members' roles and suspensions, and the audit log."""
