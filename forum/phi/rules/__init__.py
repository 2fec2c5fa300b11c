"""The detector's rules, one module per family of identifiers."""
