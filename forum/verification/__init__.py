"""Physician verification: NPI, the NPPES registry copy, matching and the verifiers' queue."""
