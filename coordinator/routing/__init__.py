"""Routing: from a request's text to the one agent that answers it.

Routes (name, description, utterances), the routers and their features, the cascade
run in the root agent's `before_model_callback` (classifier first, the LLM only when
unsure, then the fallback), clarify / escalation / multi-intent outcomes, language
and complexity tiers, and the decision log every outcome is written to.
"""
