"""Credentials -> user id (API keys file, JWT), and the per-user token bucket."""

from __future__ import annotations

import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from coordinator.errors import ConfigError, UsageError
from coordinator.serving.auth import ApiKeys, Authenticator, JwtVerifier
from coordinator.serving.http_guard import TokenBucket
from coordinator.settings import Settings


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_api_keys_file_maps_keys_to_users(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# comment\n\nalice {_sha('k-a')}  # trailing comment\nbob {_sha('k-b')}\n")
    keys = ApiKeys.load(path)
    assert keys.user_for("k-a") == "alice" and keys.user_for("k-b") == "bob"
    assert keys.user_for("k-c") is None and keys.user_for(_sha("k-a")) is None
    auth = Authenticator(keys, None)
    assert auth.user_for("Bearer k-a") == "alice"
    assert auth.user_for("bearer k-b") == "bob"
    for header in (None, "", "k-a", "Basic k-a", "Bearer ", "Bearer k-a-wrong"):
        assert auth.user_for(header) is None


@pytest.mark.parametrize(
    "line",
    [
        "alice",
        f"alice {_sha('x')} extra",
        "alice nothex",
        f"al/ice {_sha('x')}",
        f"alice {'a' * 63}",
    ],
)
def test_a_malformed_keys_line_is_named_by_file_and_line(tmp_path, line):
    path = tmp_path / "keys"
    path.write_text(f"bob {_sha('b')}\n{line}\n")
    with pytest.raises(ConfigError) as err:
        ApiKeys.load(path)
    assert str(err.value).startswith(f"{path}:2:")


def _settings(**env) -> Settings:
    return Settings.model_validate(env)


def test_hs256_tokens_need_the_secret_issuer_audience_and_expiry():
    s = _settings(
        COORDINATOR_JWT_SECRET="s3cret-s3cret-s3cret-s3cret-s3cret",
        COORDINATOR_JWT_ISSUER="iss",
        COORDINATOR_JWT_AUDIENCE="aud",
    )
    v = JwtVerifier(s)
    good = {"sub": "alice", "iss": "iss", "aud": "aud", "exp": int(time.time()) + 60}
    key = "s3cret-s3cret-s3cret-s3cret-s3cret"
    assert v.user_for(jwt.encode(good, key, algorithm="HS256")) == "alice"
    for bad in (
        {**good, "iss": "other"},
        {**good, "aud": "other"},
        {**good, "exp": int(time.time()) - 10},
        {k: v for k, v in good.items() if k != "exp"},
        {**good, "sub": "../admin"},
    ):
        assert v.user_for(jwt.encode(bad, key, algorithm="HS256")) is None, bad
    assert (
        v.user_for(jwt.encode(good, "another-secret-another-secret-xx", algorithm="HS256")) is None
    )
    assert v.user_for(jwt.encode(good, None, algorithm="none")) is None


def _rsa_pem(tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "public.pem"
    path.write_bytes(pem)
    return private, path


def test_rs256_tokens_verify_against_a_pem_or_jwks_file_and_resist_alg_confusion(tmp_path):
    private, pem_path = _rsa_pem(tmp_path)
    claims = {"sub": "bob", "exp": int(time.time()) + 60, "uid": "bob-2"}
    signed = jwt.encode(claims, private, algorithm="RS256")
    v = JwtVerifier(_settings(COORDINATOR_JWT_KEYS_FILE=str(pem_path)))
    assert v.user_for(signed) == "bob"
    # HS256 signed with the public key as the "secret": the classic confusion attack.
    try:
        forged = jwt.encode(claims, pem_path.read_bytes(), algorithm="HS256")
    except jwt.exceptions.InvalidKeyError:
        forged = None  # PyJWT refuses to even sign it; fine either way
    if forged:
        assert v.user_for(forged) is None

    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    v2 = JwtVerifier(
        _settings(COORDINATOR_JWT_KEYS_FILE=str(jwks), COORDINATOR_JWT_USER_CLAIM="uid")
    )
    with_kid = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    assert v2.user_for(with_kid) == "bob-2"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert v2.user_for(jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})) is None


def test_unsafe_jwt_settings_are_refused(tmp_path):
    _, pem = _rsa_pem(tmp_path)
    with pytest.raises(ValidationError, match="unsupported JWT algorithm 'none'"):
        _settings(COORDINATOR_JWT_SECRET="x" * 32, COORDINATOR_JWT_ALGORITHMS="none")
    with pytest.raises(UsageError, match="HS256"):
        JwtVerifier(
            _settings(COORDINATOR_JWT_KEYS_FILE=str(pem), COORDINATOR_JWT_ALGORITHMS="RS256,HS256")
        )
    bad = tmp_path / "bad.json"
    bad.write_text("{not a jwks")
    with pytest.raises(UsageError, match="not a PEM key or JWKS"):
        JwtVerifier(_settings(COORDINATOR_JWT_KEYS_FILE=str(bad)))


def test_token_bucket_allows_a_burst_then_the_refill_rate():
    now = [100.0]
    bucket = TokenBucket(per_minute=60, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take("a")
    assert wait == pytest.approx(1.0)
    assert bucket.take("b") == 0.0  # per user
    now[0] += 1.0
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0
