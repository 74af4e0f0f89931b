"""Models: which concrete ADK model answers a role, and what model calls cost.

Role -> model selection (offline / Gemini / LiteLLM), the deterministic offline
models, fault injection, retrying one model call, and per-request usage accounting.
"""
