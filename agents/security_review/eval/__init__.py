"""Measurement of the security voters (never imported by the running agent)."""
