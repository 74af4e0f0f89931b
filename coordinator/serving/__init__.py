"""Serving: the HTTP front (`coordinator serve`, `adk web`/`api_server`) and its guards.

Authentication, the request and ASGI guards, session storage, one turn per session
across replicas, the dev UI's offline icons, and warming ADK up before traffic.
"""
