"""Settings from the environment and `.env` (python-dotenv via pydantic-settings).

Every knob lives here, once; agents ask for a *role* ("router", "fast", "strong") and
`coordinator.models.roles` turns it into a concrete model. Example::

    from coordinator.settings import get_settings
    s = get_settings()
    s.use_gemini     # True only when GOOGLE_API_KEY or Vertex settings are present
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coordinator.errors import ConfigError
from coordinator.models.model_names import is_litellm_name
from coordinator.storage.database import async_url, normalize_url

__all__ = ["Settings", "get_settings", "reset_settings"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "adk-coordinator"


# Signed JWT algorithms a deployment may allow (never "none").
_JWT_ALGORITHMS = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "ES", "PS") for bits in (256, 384, 512)
) | {"EdDSA"}


class Settings(BaseSettings):
    """Runtime configuration. Keys are read from the environment, then `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", enable_decoding=False
    )

    # --- model backend -----------------------------------------------------------------
    mode: Literal["auto", "offline", "gemini"] = Field(
        "auto",
        alias="COORDINATOR_MODE",
        description="auto: Gemini when credentials exist, else offline; offline/gemini force one.",
    )
    google_api_key: str | None = Field(None, alias="GOOGLE_API_KEY")
    use_vertexai: bool = Field(False, alias="GOOGLE_GENAI_USE_VERTEXAI")
    google_cloud_project: str | None = Field(None, alias="GOOGLE_CLOUD_PROJECT")
    gemini_base_url: str | None = Field(
        None,
        alias="COORDINATOR_GEMINI_BASE_URL",
        description="Override the Gemini API endpoint (proxies, or the local stub in tests).",
    )
    model_fast: str = Field("gemini-2.5-flash", alias="COORDINATOR_MODEL_FAST", min_length=1)
    model_strong: str = Field("gemini-2.5-pro", alias="COORDINATOR_MODEL_STRONG", min_length=1)
    model_router: str = Field("gemini-2.5-flash", alias="COORDINATOR_MODEL_ROUTER", min_length=1)
    litellm_api_base: str | None = Field(
        None,
        alias="COORDINATOR_LITELLM_API_BASE",
        pattern=r"^https?://",
        description="Endpoint for LiteLLM model names (provider/model), e.g. a local "
        "OpenAI-compatible server; default: the provider's own (or OPENAI_API_BASE).",
    )
    litellm_api_key: str | None = Field(
        None,
        alias="COORDINATOR_LITELLM_API_KEY",
        min_length=1,
        description="API key for that endpoint (default: the provider's usual variable).",
    )

    # --- routing --------------------------------------------------------------------------
    encoder: Literal["wordllama", "gemini"] = Field(
        "wordllama",
        alias="COORDINATOR_ENCODER",
        description="Sentence embeddings for routing: wordllama (offline) or gemini.",
    )
    embedding_model: str = Field(
        "gemini-embedding-001", alias="COORDINATOR_EMBEDDING_MODEL", min_length=1
    )
    routes_file: Path | None = Field(
        None, alias="COORDINATOR_ROUTES", description="YAML routes file (default: built-in)."
    )
    router_method: Literal["auto", "embedding", "classifier", "llm"] = Field(
        "auto", alias="COORDINATOR_ROUTER"
    )
    router_model_dir: Path | None = Field(
        None, alias="COORDINATOR_ROUTER_MODEL", description="Trained router from `routes train`."
    )
    router_threshold: float | None = Field(
        None,
        alias="COORDINATOR_ROUTER_THRESHOLD",
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Override the data-calibrated confidence threshold.",
    )
    log_text: bool = Field(
        True,
        alias="COORDINATOR_LOG_TEXT",
        description="Store request text in the decision log (False: only a SHA-256 hash).",
    )

    # --- storage -----------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir, alias="COORDINATOR_DATA_DIR")
    session_db_url: str | None = Field(
        None,
        alias="COORDINATOR_SESSION_DB",
        description="ADK session store URL (default: SQLite file in data_dir; "
        "postgresql+asyncpg://... to scale out).",
    )

    database_url: str | None = Field(
        None,
        alias="COORDINATOR_DATABASE_URL",
        description="One database for the store, refund/billing audit, decision log, "
        "tickets and (unless COORDINATOR_SESSION_DB) sessions: postgresql+psycopg://"
        "user:pw@host:5432/db or sqlite:////path/file.db (default: SQLite files in data_dir).",
    )

    # --- parallel engine ---------------------------------------------------------------------
    max_concurrency: int = Field(64, alias="COORDINATOR_MAX_CONCURRENCY", ge=1)
    branch_timeout_s: float = Field(
        60.0, alias="COORDINATOR_BRANCH_TIMEOUT", gt=0, allow_inf_nan=False
    )
    branch_retries: int = Field(3, alias="COORDINATOR_BRANCH_RETRIES", ge=0)
    max_request_chars: int = Field(60_000, alias="COORDINATOR_MAX_REQUEST_CHARS", ge=1)
    max_llm_calls_cap: int = Field(
        20_000,
        alias="COORDINATOR_MAX_LLM_CALLS_CAP",
        ge=1,
        description="Hard cap on model calls one fan-out may plan (N x (1 + retries)).",
    )
    clarify: bool = Field(
        True,
        alias="COORDINATOR_CLARIFY",
        description="Ask one clarifying question for vague or too-close requests.",
    )
    clarify_margin: float | None = Field(
        None,
        alias="COORDINATOR_CLARIFY_MARGIN",
        ge=0,
        le=1,
        description="Ask when the top two routes' probabilities are closer than this "
        "(default: chosen on the routes' utterances by k-fold, see coordinator.routing.intents).",
    )
    side_effect_tools: list[str] = Field(
        default_factory=list,
        alias="COORDINATOR_SIDE_EFFECT_TOOLS",
        description="Extra tool names never allowed inside parallel or voting branches "
        "(tools marked @side_effecting are refused there whatever this says).",
    )
    app: str = Field(
        "agents.app:build_app",
        alias="COORDINATOR_APP",
        description="The application the engine runs: `package.module:function` returning "
        "a coordinator.app_spec.AppSpec.",
    )

    max_sections: int = Field(
        1000,
        alias="COORDINATOR_MAX_SECTIONS",
        ge=1,
        description="Longest document a review accepts, in sections (more: refused, clearly).",
    )

    # --- serving (`coordinator serve`) -------------------------------------------------------
    api_keys_file: Path | None = Field(
        None,
        alias="COORDINATOR_API_KEYS_FILE",
        description="Lines `<user_id> <sha256 hex of the key>`; keys sent as Bearer tokens.",
    )
    jwt_secret: str | None = Field(
        None,
        alias="COORDINATOR_JWT_SECRET",
        min_length=32,  # RFC 7518 3.2: an HS256 key at least as long as the hash
        description="HS256 secret for JWT bearer tokens (32 characters or more).",
    )
    jwt_keys_file: Path | None = Field(
        None,
        alias="COORDINATOR_JWT_KEYS_FILE",
        description="PEM public key or JWKS JSON file verifying JWT bearer tokens.",
    )
    jwt_issuer: str | None = Field(None, alias="COORDINATOR_JWT_ISSUER", min_length=1)
    jwt_audience: str | None = Field(None, alias="COORDINATOR_JWT_AUDIENCE", min_length=1)
    jwt_algorithms: list[str] = Field(
        default_factory=list,
        alias="COORDINATOR_JWT_ALGORITHMS",
        description="Allowed JWT algorithms (default: HS256 with a secret, RS256,ES256 "
        "with a keys file).",
    )
    jwt_user_claim: str = Field("sub", alias="COORDINATOR_JWT_USER_CLAIM", min_length=1)
    rate_per_minute: float = Field(
        120.0, alias="COORDINATOR_RATE_PER_MINUTE", gt=0, description="Requests per user."
    )
    rate_burst: int = Field(30, alias="COORDINATOR_RATE_BURST", ge=1)
    user_concurrency: int = Field(
        4, alias="COORDINATOR_USER_CONCURRENCY", ge=1, description="Requests in flight per user."
    )
    heavy_concurrency: int = Field(
        2,
        alias="COORDINATOR_HEAVY_CONCURRENCY",
        ge=1,
        description="Large requests (above COORDINATOR_HEAVY_BYTES) running at once; "
        "others queue, so small requests stay fast.",
    )
    heavy_bytes: int = Field(8_000, alias="COORDINATOR_HEAVY_BYTES", ge=1)
    heavy_offload: bool = Field(
        True,
        alias="COORDINATOR_HEAVY_OFFLOAD",
        description="Run large requests on a second event loop thread, off the server's loop.",
    )
    max_body_bytes: int = Field(1_000_000, alias="COORDINATOR_MAX_BODY_BYTES", ge=1)
    body_timeout: float = Field(
        30.0,
        alias="COORDINATOR_BODY_TIMEOUT",
        gt=0,
        description="Seconds a request body may take to arrive (slow clients get 408).",
    )
    header_timeout: float = Field(
        10.0,
        alias="COORDINATOR_HEADER_TIMEOUT",
        gt=0,
        allow_inf_nan=False,
        description="Seconds a request line and headers may take to arrive (then 408 and "
        "the connection is closed).",
    )
    max_sessions_per_user: int = Field(
        1000,
        alias="COORDINATOR_MAX_SESSIONS_PER_USER",
        ge=1,
        description="Live sessions one user may have per app; one more is refused (429).",
    )
    max_state_delta_bytes: int = Field(16_000, alias="COORDINATOR_MAX_STATE_DELTA_BYTES", ge=0)
    max_state_delta_keys: int = Field(32, alias="COORDINATOR_MAX_STATE_DELTA_KEYS", ge=0)

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, v: object) -> object:
        if isinstance(v, str):
            return [name.strip() for name in v.split(",") if name.strip()]
        return v

    @field_validator("jwt_algorithms")
    @classmethod
    def _signed_algorithms(cls, v: list[str]) -> list[str]:
        # "none" (unsigned) and unknown names would let a forged token through or fail late.
        bad = [name for name in v if name not in _JWT_ALGORITHMS]
        if bad:
            raise ValueError(
                f"unsupported JWT algorithm {', '.join(map(repr, bad))}; "
                f"use {', '.join(sorted(_JWT_ALGORITHMS))}"
            )
        return v

    @field_validator("side_effect_tools", mode="before")
    @classmethod
    def _split_names(cls, v: object) -> object:
        if isinstance(v, str):
            return [name.strip() for name in v.split(",") if name.strip()]
        return v

    @field_validator("side_effect_tools")
    @classmethod
    def _tool_names(cls, v: list[str]) -> list[str]:
        bad = [name for name in v if not name.isidentifier()]
        if bad:
            raise ValueError(f"not tool names: {', '.join(map(repr, bad))}")
        return v

    @field_validator("app")
    @classmethod
    def _app_target(cls, v: str) -> str:
        module, sep, attr = v.strip().partition(":")
        parts = module.split(".")
        if not sep or not attr.isidentifier() or not all(p.isidentifier() for p in parts):
            raise ValueError("expected 'package.module:function', e.g. agents.app:build_app")
        return v.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        try:
            return normalize_url(v)
        except ConfigError as exc:  # the message says which part is wrong, without a password
            raise ValueError(str(exc).split(": ", 1)[1]) from None

    @field_validator("gemini_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("expected an http:// or https:// URL")
        return v

    @property
    def has_gemini_credentials(self) -> bool:
        return bool(self.google_api_key) or (self.use_vertexai and bool(self.google_cloud_project))

    @property
    def use_gemini(self) -> bool:
        if self.mode == "offline":
            return False
        if self.mode == "gemini":
            return True
        return self.has_gemini_credentials

    @property
    def use_litellm(self) -> bool:
        """True when some role names a LiteLLM model ('provider/model') and mode allows it."""
        names = (self.model_fast, self.model_strong, self.model_router)
        return self.mode != "offline" and any(is_litellm_name(n) for n in names)

    @property
    def use_remote_models(self) -> bool:
        """True when any role is answered by a real model (Gemini or LiteLLM)."""
        return self.use_gemini or self.use_litellm

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def decision_log_path(self) -> Path:
        return self.data_dir / "decisions.sqlite3"

    @property
    def sessions_url(self) -> str:
        """COORDINATOR_SESSION_DB, else the one database URL, else a file in data_dir."""
        if self.session_db_url:
            return self.session_db_url
        if self.database_url:
            return async_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'sessions.sqlite3'}"

    def ensure_data_dir(self) -> Path:
        """Create the data dir and prove it is writable, or say which setting to fix."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.data_dir):
                pass
        except OSError as exc:
            problem = {
                errno.ENOSPC: "disk full",
                errno.EROFS: "read-only file system",
                errno.EEXIST: "exists and is not a directory",
                errno.ENOTDIR: "a parent is not a directory",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            raise ConfigError(
                f"COORDINATOR_DATA_DIR={self.data_dir}: unusable data dir: {problem}"
            ) from None
        return self.data_dir


def _describe(exc: ValidationError) -> str:
    """The first invalid setting, in one line: `KEY=value: what is wrong`."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "settings"
    value = err.get("input")
    shown = f"={value!r}" if isinstance(value, str | int | float) else ""
    shown = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", shown)  # never print a password
    msg = err["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    return f"invalid setting {key}{shown}: {msg}" + (f" (and {more} more)" if more else "")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; `reset_settings()` re-reads, for tests).

    An invalid value in the environment or `.env` is a `ConfigError` naming the key."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:  # an unreadable or non-UTF-8 .env
        raise ConfigError(f".env: cannot read settings: {exc}") from None


def reset_settings() -> None:
    get_settings.cache_clear()
