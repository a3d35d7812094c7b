"""Revoke a Cognito refresh token (RevokeToken) when a session backed by a Cognito login ends.

Best effort by design: the denylist item for the login's `origin_jti` is written first and
already makes the authorizer refuse that login's Cognito tokens, so a failure here is logged
(by error code, with the login's `origin_jti` and `sub`, never the token) and does not fail
the logout. RevokeToken is a public Cognito API: it needs no IAM permission.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from authorizer.log import log_event

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

logger = logging.getLogger("lambda_jwt_auth.cognito_revoke")


class CognitoRefreshTokenRevoker:
    def __init__(
        self, client: CognitoIdentityProviderClient, *, client_id: str, client_secret: str | None
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret

    def revoke(self, refresh_token: str, *, sub: str, origin_jti: str) -> bool:
        """Whether Cognito confirmed the revocation."""
        kwargs: dict[str, Any] = {"Token": refresh_token, "ClientId": self._client_id}
        if self._client_secret:
            kwargs["ClientSecret"] = self._client_secret
        try:
            self._client.revoke_token(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            log_event(
                logger,
                "cognito_revoke_failed",
                logging.WARNING,
                sub=sub,
                origin_jti=origin_jti,
                cognito_error=code,
            )
            return False
        except BotoCoreError as exc:
            log_event(
                logger,
                "cognito_revoke_failed",
                logging.WARNING,
                sub=sub,
                origin_jti=origin_jti,
                error=type(exc).__name__,
            )
            return False
        log_event(logger, "cognito_refresh_token_revoked", sub=sub, origin_jti=origin_jti)
        return True
