"""Who is calling: API keys and JWT bearer tokens -> one user id.

The authenticated user id is the *only* user id a request may act as; the HTTP guard
(`coordinator.serving.http_guard`) compares it with every user id in the URL or body.

API keys file: one `<user_id> <sha256 hex of the key>` per line (`#` comments and blank
lines allowed). Only hashes are stored; a presented key is hashed and compared in
constant time against every entry, so timing says nothing about which entry is near.
JWT: verified with PyJWT against an HS secret or a PEM/JWKS keys file, an explicit
algorithms allow-list, and the configured issuer/audience; the user id is one claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator.errors import ConfigError, UsageError
from coordinator.settings import Settings

__all__ = ["USER_ID", "ApiKeys", "Authenticator", "JwtVerifier", "hash_key"]

USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}\Z")
"""User and session ids: 1-128 characters, no slashes, spaces or control characters
(end anchor `\\Z`, not `$`, which also matches before a trailing newline)."""

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}\Z")


def hash_key(key: str) -> str:
    """The sha256 hex line a key is stored as (`coordinator serve --hash-key`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    """(user_id, sha256 digest) pairs from the keys file."""

    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read API keys file {path}: {exc}") from exc
        entries = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2 or not USER_ID.match(fields[0]) or not _SHA256.match(fields[1]):
                raise ConfigError(
                    "expected `<user_id> <sha256 hex of the key>` (user id: letters, digits, "
                    "_.@+-, at most 128)",
                    path=str(path),
                    where=str(n),
                )
            entries.append((fields[0], bytes.fromhex(fields[1])))
        return cls(tuple(entries))

    def user_for(self, key: str) -> str | None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = None
        for user, expected in self.entries:  # no early exit: same work whatever matches
            if hmac.compare_digest(digest, expected):
                found = user
        return found


class JwtVerifier:
    """PyJWT verification with the settings' key, algorithms, issuer and audience."""

    def __init__(self, settings: Settings) -> None:
        import jwt

        self._jwt = jwt
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.claim = settings.jwt_user_claim
        self._keys: dict[str | None, Any] = {}
        if settings.jwt_keys_file is not None:
            self.algorithms = settings.jwt_algorithms or ["RS256", "ES256"]
            self._load_keys(settings.jwt_keys_file)
        else:
            self.algorithms = settings.jwt_algorithms or ["HS256"]
            self._keys[None] = settings.jwt_secret
        if any(a.upper() == "NONE" for a in self.algorithms):
            raise UsageError("COORDINATOR_JWT_ALGORITHMS must not allow 'none'")
        hs = [a for a in self.algorithms if a.startswith("HS")]
        if settings.jwt_keys_file is not None and hs:
            raise UsageError(
                f"COORDINATOR_JWT_ALGORITHMS allows {', '.join(hs)} with a public keys file; "
                "use COORDINATOR_JWT_SECRET for HMAC tokens"
            )

    def _load_keys(self, path: Path) -> None:
        jwt = self._jwt
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read JWT keys file {path}: {exc}") from exc
        try:
            if text.lstrip().startswith("{"):
                for jwk in jwt.PyJWKSet.from_dict(json.loads(text)).keys:
                    self._keys[jwk.key_id] = jwk.key
            else:
                self._keys[None] = text
        except (ValueError, jwt.exceptions.PyJWTError) as exc:
            raise UsageError(f"JWT keys file {path} is not a PEM key or JWKS: {exc}") from exc

    def user_for(self, token: str) -> str | None:
        jwt = self._jwt
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if kid in self._keys else self._keys.get(None)
            if key is None:
                return None
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.exceptions.PyJWTError:
            return None
        user = claims.get(self.claim)
        return user if isinstance(user, str) and USER_ID.match(user) else None


class Authenticator:
    """Bearer token -> user id, from the API keys file and/or JWT settings."""

    def __init__(self, api_keys: ApiKeys | None, jwt: JwtVerifier | None) -> None:
        self.api_keys = api_keys
        self.jwt = jwt

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        keys = ApiKeys.load(settings.api_keys_file) if settings.api_keys_file else None
        jwt = None
        if settings.jwt_secret or settings.jwt_keys_file:
            jwt = JwtVerifier(settings)
        return cls(keys, jwt)

    @property
    def configured(self) -> bool:
        return bool(self.api_keys and self.api_keys.entries) or self.jwt is not None

    def user_for(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 8192:
            return None
        if self.api_keys is not None and (user := self.api_keys.user_for(token)):
            return user
        if self.jwt is not None and token.count(".") == 2:
            return self.jwt.user_for(token)
        return None
