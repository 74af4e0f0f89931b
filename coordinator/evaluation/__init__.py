"""Evaluation: measuring a router and retuning it from logged traffic.

Offline-only code (scores, calibration, plots); runtime code never imports it.
"""
