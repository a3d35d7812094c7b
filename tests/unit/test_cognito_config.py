"""AUTH_IDENTITY_BACKEND and AUTH_COGNITO_*: read once, validated in one place; group scopes."""

from __future__ import annotations

import json

import pytest

from auth_service.cognito.scopes import GroupScopes, GroupScopesError
from auth_service.config import IdentityBackend, ServiceConfig
from authorizer.errors import ConfigurationError

POOL = "us-east-1_AbCdEf123"
BASE = {
    "AUTH_ISSUER": "https://auth.example.test",
    "AUTH_AUDIENCE": "orders-api",
    "AUTH_DENYLIST_TABLE": "denylist",
    "AUTH_SIGNING_KEY": "a PEM (not read by the configuration)",
    "AWS_REGION": "us-east-1",
}


def config(**env: str) -> ServiceConfig:
    return ServiceConfig.from_env({**BASE, **env})


def test_default_is_the_table_backend_without_cognito() -> None:
    cfg = config()
    assert cfg.identity_backend is IdentityBackend.TABLE
    assert cfg.cognito is None


def test_cognito_backend_settings_and_defaults() -> None:
    cfg = config(
        AUTH_IDENTITY_BACKEND="cognito", AUTH_COGNITO_USER_POOL_ID=POOL, AUTH_COGNITO_CLIENT_ID="app"
    )
    assert cfg.identity_backend is IdentityBackend.COGNITO
    cognito = cfg.cognito
    assert cognito is not None
    assert cognito.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
    assert cognito.jwks_uri == f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}/.well-known/jwks.json"
    assert cognito.region == "us-east-1"
    assert cognito.endpoint is None
    assert cognito.client_secret is None
    assert cognito.group_scopes.scope_for(["anything"]) == "profile"


def test_every_cognito_setting() -> None:
    cfg = config(
        AUTH_IDENTITY_BACKEND="COGNITO",
        AUTH_COGNITO_USER_POOL_ID="eu-west-1_Xyz9",
        AUTH_COGNITO_CLIENT_ID="app",
        AUTH_COGNITO_CLIENT_SECRET="s3cret-value",
        AUTH_COGNITO_REGION="eu-west-1",
        AUTH_COGNITO_ENDPOINT="http://127.0.0.1:5000",
        AUTH_COGNITO_JWKS_URI="http://127.0.0.1:5000/eu-west-1_Xyz9/.well-known/jwks.json",
        AUTH_COGNITO_GROUP_SCOPES=json.dumps({"admins": "admin  orders:write"}),
        AUTH_COGNITO_DEFAULT_SCOPE="openid profile",
    )
    cognito = cfg.cognito
    assert cognito is not None
    assert cognito.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Xyz9"
    assert cognito.endpoint == "http://127.0.0.1:5000"
    assert cognito.jwks_uri.startswith("http://127.0.0.1:5000/")
    assert cognito.client_secret == "s3cret-value"
    assert "s3cret-value" not in repr(cognito)
    assert cognito.group_scopes.scope_for(["admins"]) == "openid profile admin orders:write"


def test_a_pool_without_the_cognito_backend_enables_exchange_only() -> None:
    cfg = config(AUTH_COGNITO_USER_POOL_ID=POOL, AUTH_COGNITO_CLIENT_ID="app")
    assert cfg.identity_backend is IdentityBackend.TABLE
    assert cfg.cognito is not None


def test_cognito_backend_without_pool_lists_every_problem() -> None:
    with pytest.raises(ConfigurationError) as caught:
        config(AUTH_IDENTITY_BACKEND="cognito", AUTH_COGNITO_GROUP_SCOPES="[1]", AUTH_AUDIENCE="")
    message = str(caught.value)
    assert "AUTH_COGNITO_USER_POOL_ID is required" in message
    assert "AUTH_COGNITO_CLIENT_ID is required" in message
    assert "AUTH_COGNITO_GROUP_SCOPES" in message
    assert "AUTH_AUDIENCE" in message  # the other problems are listed too


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"AUTH_IDENTITY_BACKEND": "ldap"}, "AUTH_IDENTITY_BACKEND must be table or cognito"),
        ({"AUTH_COGNITO_USER_POOL_ID": "not a pool"}, "must look like us-east-1_AbCdEf123"),
        (
            {"AUTH_COGNITO_USER_POOL_ID": "eu-west-1_Abc"},
            "is in eu-west-1, but the Cognito region is us-east-1",
        ),
        ({"AUTH_COGNITO_ENDPOINT": "ftp://x"}, "AUTH_COGNITO_ENDPOINT must be an http(s):// URL"),
        ({"AUTH_COGNITO_JWKS_URI": "/relative"}, "AUTH_COGNITO_JWKS_URI must be an http(s):// URL"),
        ({"AUTH_COGNITO_GROUP_SCOPES": "{not json"}, "AUTH_COGNITO_GROUP_SCOPES is not valid JSON"),
        ({"AUTH_COGNITO_GROUP_SCOPES": '{"g": ["a"]}'}, "mapping group names to scope strings"),
        ({"AUTH_COGNITO_GROUP_SCOPES": '{"g": "a\\"b"}'}, "is not a valid scope"),
        ({"AUTH_COGNITO_DEFAULT_SCOPE": "pro\\file"}, "is not a valid scope"),
    ],
)
def test_bad_cognito_settings(env: dict[str, str], problem: str) -> None:
    base = {"AUTH_COGNITO_USER_POOL_ID": POOL, "AUTH_COGNITO_CLIENT_ID": "app"}
    with pytest.raises(ConfigurationError, match="invalid auth service configuration") as caught:
        config(**{**base, **env})
    assert problem in str(caught.value)


def test_group_scopes_mapping() -> None:
    scopes = GroupScopes({"orders": "orders:read orders:write", "admins": "admin orders:read"}, "profile")
    assert scopes.scope_for([]) == "profile"
    assert scopes.scope_for(["orders"]) == "profile orders:read orders:write"
    # Group order, each scope once; unknown groups add nothing.
    assert scopes.scope_for(["admins", "unknown", "orders"]) == "profile admin orders:read orders:write"
    assert scopes.mapping() == {"orders": "orders:read orders:write", "admins": "admin orders:read"}
    assert GroupScopes({}, "").scope_for(["orders"]) == ""


@pytest.mark.parametrize("value", [[], "text", {"": "a"}, {"g": 1}])
def test_group_scopes_refuses_other_shapes(value: object) -> None:
    with pytest.raises(GroupScopesError):
        GroupScopes.from_json_value(value)


def test_logout_with_a_pool_needs_the_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from auth_service import runtime
    from auth_service.keys import generate_private_key_pem, load_key_ring

    jwks = json.dumps(load_key_ring(generate_private_key_pem("ES256")).jwks())
    env = {**BASE, "AUTH_JWKS": jwks, "AUTH_COGNITO_USER_POOL_ID": POOL, "AUTH_COGNITO_CLIENT_ID": "app"}
    del env["AUTH_SIGNING_KEY"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def clear() -> None:
        for value in vars(runtime).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()

    clear()
    try:
        with pytest.raises(ConfigurationError, match="logout and revoke open the Cognito refresh token"):
            runtime.sessions(signing=False, ending=True)
        # Functions that end no session (introspect) are not affected.
        assert runtime.sessions(signing=False).keys is None
    finally:
        clear()
