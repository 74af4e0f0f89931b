"""Inputs: what arrives from a person or a file, checked before anything trusts it.

Request text rules, user-named files, YAML configuration, the user's words out of an
ADK `Content`, a message split into request and document, and a document's kind.
"""
