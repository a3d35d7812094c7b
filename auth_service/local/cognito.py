"""`auth-service serve --cognito`: a Cognito user pool in the embedded moto server.

The pool gets one app client (USER_PASSWORD_AUTH and refresh allowed, no secret) and the users
of `--users`, with their groups. The functions then log in through the pool and the authorizer
trusts the pool's access tokens, as a deployment configured for Cognito would.

moto serves the pool's JWKS at `/<pool id>/.well-known/jwks.json` on its own endpoint, while the
tokens it signs carry the real `iss` (https://cognito-idp.<region>.amazonaws.com/<pool id>), so
the JWKS URI is configured apart from the issuer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from auth_service.local.users_file import SeedUser, UsersFileError
from authorizer.tokens.cognito import cognito_issuer

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import PasswordPolicyTypeTypeDef

LOCAL_POOL_NAME = "lambda-jwt-auth-local"
LOCAL_CLIENT_NAME = "lambda-jwt-auth-local"
# As our own user table: at least 8 characters, no composition rules (NIST SP 800-63B).
_PASSWORD_POLICY: PasswordPolicyTypeTypeDef = {
    "MinimumLength": 8,
    "RequireUppercase": False,
    "RequireLowercase": False,
    "RequireNumbers": False,
    "RequireSymbols": False,
}


@dataclass(frozen=True)
class LocalUserPool:
    endpoint: str  # the moto server: Cognito API and JWKS
    region: str
    user_pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        return cognito_issuer(self.region, self.user_pool_id)

    @property
    def jwks_uri(self) -> str:
        return f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"

    def environment(self, group_scopes: Mapping[str, str], default_scope: str) -> dict[str, str]:
        """What the functions read: the login backend, the pool, and the authorizer's trust in it."""
        trusted = {
            "issuer": self.issuer,
            "type": "cognito",
            "jwks_uri": self.jwks_uri,
            "token_use": "access",
            "client_ids": [self.client_id],
            "group_scopes": dict(group_scopes),
            "default_scope": default_scope,
        }
        return {
            "AUTH_IDENTITY_BACKEND": "cognito",
            "AUTH_COGNITO_USER_POOL_ID": self.user_pool_id,
            "AUTH_COGNITO_CLIENT_ID": self.client_id,
            "AUTH_COGNITO_REGION": self.region,
            "AUTH_COGNITO_ENDPOINT": self.endpoint,
            "AUTH_COGNITO_JWKS_URI": self.jwks_uri,
            "AUTH_COGNITO_GROUP_SCOPES": json.dumps(dict(group_scopes)),
            "AUTH_COGNITO_DEFAULT_SCOPE": default_scope,
            "AUTH_TRUSTED_ISSUERS": json.dumps([trusted]),
        }


def create_local_user_pool(
    endpoint: str,
    region: str,
    users: list[SeedUser],
    report: Callable[[str], None] = print,
) -> LocalUserPool:
    """Create the pool and its app client on `endpoint` (a moto server) and add `users`."""
    install_revoke_token()
    client: CognitoIdentityProviderClient = boto3.client(
        "cognito-idp", endpoint_url=endpoint, region_name=region
    )
    pool_id = client.create_user_pool(
        PoolName=LOCAL_POOL_NAME, Policies={"PasswordPolicy": _PASSWORD_POLICY}
    )["UserPool"]["Id"]
    client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=LOCAL_CLIENT_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        EnableTokenRevocation=True,
    )["UserPoolClient"]["ClientId"]
    seed_pool_users(client, pool_id, users, report)
    return LocalUserPool(endpoint=endpoint, region=region, user_pool_id=pool_id, client_id=client_id)


def seed_pool_users(
    client: CognitoIdentityProviderClient,
    pool_id: str,
    users: list[SeedUser],
    report: Callable[[str], None] = print,
) -> None:
    from botocore.exceptions import ClientError

    groups: set[str] = set()
    for user in users:
        try:
            client.admin_create_user(UserPoolId=pool_id, Username=user.username, MessageAction="SUPPRESS")
            client.admin_set_user_password(
                UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
            )
            for group in user.groups:
                if group not in groups:
                    client.create_group(UserPoolId=pool_id, GroupName=group)
                    groups.add(group)
                client.admin_add_user_to_group(UserPoolId=pool_id, Username=user.username, GroupName=group)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UsersFileError(f"user {user.username!r}: the user pool refused it ({code})") from None
        note = f"groups: {', '.join(user.groups)}" if user.groups else "no groups"
        if user.scope is not None:
            note += "; its scope is ignored, scopes come from groups"
        report(f"  user {user.username!r} added to the user pool ({note})")


def install_revoke_token() -> None:
    """Give moto's Cognito a RevokeToken, which it lacks, so local logout revokes for real.

    Like Cognito: the refresh token stops working; a token of another app client, or a wrong
    client secret, is refused; an unknown token is accepted silently. Does nothing if moto has
    its own implementation.
    """
    from moto.cognitoidp.responses import CognitoIdpResponse

    if hasattr(CognitoIdpResponse, "revoke_token"):
        return
    CognitoIdpResponse.revoke_token = _revoke_token  # type: ignore[attr-defined]


def _revoke_token(self: Any) -> str:
    from moto.cognitoidp.exceptions import NotAuthorizedError

    token, client_id = self._get_param("Token"), self._get_param("ClientId")
    for pool in self.backend.user_pools.values():
        entry = pool.refresh_tokens.get(token)
        if not entry:
            continue
        app_client = pool.clients.get(client_id)
        if entry[0] != client_id or app_client is None:
            raise NotAuthorizedError("the refresh token was not issued to this app client")
        if app_client.generate_secret and self._get_param("ClientSecret") != app_client.secret:
            raise NotAuthorizedError("the client secret does not match")
        pool.refresh_tokens[token] = None
    return "{}"
