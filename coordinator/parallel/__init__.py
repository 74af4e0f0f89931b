"""Parallel work: independent branches at once, judges voting, one merged answer.

The fan-out engine and its ADK agent (bounded concurrency, deadlines, retries,
partial failure), voting strategies, aggregation, the side-effect contract that keeps
side-effecting tools out of branches, and progress events of long runs.
"""
