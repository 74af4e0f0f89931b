"""Benchmarks run by `coordinator bench NAME`: side-by-side measurements, not tests.

Each module here exposes `register(subparsers)` like the CLI subcommands do.
"""
