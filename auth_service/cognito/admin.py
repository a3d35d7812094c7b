"""Operator calls on a Cognito user pool (`auth-service revoke --user` for a Cognito user).

These are admin APIs, signed with the operator's credentials: cognito-idp:AdminGetUser and
cognito-idp:AdminUserGlobalSignOut on the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class CognitoAdminError(Exception):
    """An admin call failed; the message names the call and Cognito's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PoolUser:
    username: str  # the pool's own username (an alias such as an email resolves to it)
    sub: str


def find_user(client: CognitoIdentityProviderClient, user_pool_id: str, username: str) -> PoolUser:
    """AdminGetUser: the user's `sub`, which is the `sub` of their tokens (Cognito's and ours)."""
    try:
        response = client.admin_get_user(UserPoolId=user_pool_id, Username=username)
    except (BotoCoreError, ClientError) as exc:
        code = _code(exc)
        if code == "UserNotFoundException":
            raise CognitoAdminError(f"no user {username!r} in user pool {user_pool_id}", code) from None
        raise CognitoAdminError(
            f"cannot look {username!r} up in user pool {user_pool_id}: {code}", code
        ) from None
    attributes = {item["Name"]: item.get("Value", "") for item in response.get("UserAttributes", [])}
    sub = attributes.get("sub")
    if not sub:
        raise CognitoAdminError(
            f"user {username!r} of user pool {user_pool_id} has no sub attribute", "NoSub"
        )
    return PoolUser(username=response.get("Username") or username, sub=sub)


def global_sign_out(client: CognitoIdentityProviderClient, user_pool_id: str, username: str) -> None:
    """AdminUserGlobalSignOut: the user's Cognito refresh tokens stop working."""
    try:
        client.admin_user_global_sign_out(UserPoolId=user_pool_id, Username=username)
    except (BotoCoreError, ClientError) as exc:
        code = _code(exc)
        raise CognitoAdminError(f"AdminUserGlobalSignOut of {username!r} failed: {code}", code) from None


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
