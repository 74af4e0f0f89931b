"""ADK loads this before building services for `adk web adk_web` / `adk api_server adk_web`.

It points ADK at the coordinator's session store (WAL SQLite in the data dir, writes
taken in turn, or COORDINATOR_SESSION_DB): the same store as the Python API and CLI,
by default, with no flags. See coordinator/serving/adk_services.py for why and how.
"""

from coordinator.serving.adk_services import install

install()
