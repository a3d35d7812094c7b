"""Check a username and password against an Amazon Cognito user pool.

`CognitoLogin.authenticate` calls InitiateAuth (USER_PASSWORD_AUTH), verifies the ID token the
pool returns against the pool's keys and answers who the user is and which scopes they get.
Every outcome other than success is a named `CognitoLoginError` carrying its OAuth-style `error`
code and HTTP status, so the login endpoint answers a 4xx, never a 5xx, for anything a user or
the pool's state can cause. A pool that cannot be reached raises `UnavailableError` (503).

Nothing here logs a password or a token; Cognito's error messages are not logged either (they
can echo what was sent), only its error codes.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from auth_service.cognito.client import secret_hash
from auth_service.cognito.scopes import GroupScopes
from authorizer.errors import KidNotFoundError, TokenError, UnavailableError
from authorizer.log import log_event
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.jwks_cache import JwksUnavailableError
from authorizer.tokens.verifier import TokenVerifier

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

logger = logging.getLogger("lambda_jwt_auth.cognito_login")

# Cognito's own limits: a username is 1 to 128 letters, marks, symbols, digits and punctuation
# (no spaces or control characters); a password at most 256 characters.
MAX_USERNAME = 128
MAX_PASSWORD = 256
_USERNAME_CATEGORIES = ("L", "M", "S", "N", "P")
MFA_CHALLENGES = frozenset({"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP", "SELECT_MFA_TYPE", "MFA_SETUP"})
RETRY_AFTER_SECONDS = 1


class CognitoLoginError(Exception):
    """A login the pool did not grant. `error` and `status` are what the endpoint answers."""

    error = "invalid_grant"
    status = 401

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidCredentialsError(CognitoLoginError):
    """Wrong password, unknown user or disabled user: one answer for all three."""


class UserNotConfirmedError(CognitoLoginError):
    error = "user_not_confirmed"
    status = 403


class PasswordResetRequiredError(CognitoLoginError):
    error = "password_reset_required"
    status = 403


class NewPasswordRequiredError(CognitoLoginError):
    error = "new_password_required"
    status = 403


class MfaRequiredError(CognitoLoginError):
    error = "mfa_required"
    status = 403


class UnsupportedChallengeError(CognitoLoginError):
    """The pool asks for a challenge this endpoint cannot answer (a custom auth flow, say)."""

    error = "unsupported_challenge"
    status = 403


class LoginDeniedError(CognitoLoginError):
    """The pool refused the login for another reason: a pre-authentication trigger, its WAF."""

    error = "access_denied"
    status = 403


class SlowDownError(CognitoLoginError):
    """The pool throttled us (or the user's attempts): retry later."""

    error = "slow_down"
    status = 429

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class InvalidLoginRequestError(CognitoLoginError):
    """The pool rejected the request's parameters."""

    error = "invalid_request"
    status = 400


class CognitoMisconfiguredError(CognitoLoginError):
    """Our configuration does not fit the pool (app client, auth flow, keys): an operator's problem."""

    error = "server_error"
    status = 500


@dataclass(frozen=True)
class CognitoUser:
    sub: str
    username: str
    scope: str
    origin_jti: str | None  # identifies the Cognito login (its refresh token) in the denylist
    refresh_token: str | None = field(default=None, repr=False)


# Cognito error code -> what we answer. Codes not listed are treated as the pool being unavailable.
_ERRORS: dict[str, type[CognitoLoginError]] = {
    "NotAuthorizedException": InvalidCredentialsError,
    "UserNotFoundException": InvalidCredentialsError,
    "UserNotConfirmedException": UserNotConfirmedError,
    "PasswordResetRequiredException": PasswordResetRequiredError,
    "TooManyRequestsException": SlowDownError,
    "TooManyFailedAttemptsException": SlowDownError,
    "LimitExceededException": SlowDownError,
    "ThrottlingException": SlowDownError,
    "UserLambdaValidationException": LoginDeniedError,
    "ForbiddenException": LoginDeniedError,
    "InvalidParameterException": InvalidLoginRequestError,
    "ResourceNotFoundException": CognitoMisconfiguredError,
    "InvalidUserPoolConfigurationException": CognitoMisconfiguredError,
    "UnsupportedOperationException": CognitoMisconfiguredError,
    "OperationNotEnabledException": CognitoMisconfiguredError,
    "FeatureUnavailableInTierException": CognitoMisconfiguredError,
}
_DESCRIPTIONS: dict[type[CognitoLoginError], str] = {
    InvalidCredentialsError: "invalid username or password",
    UserNotConfirmedError: "the user has not confirmed their account yet",
    PasswordResetRequiredError: "the user must reset their password first",
    SlowDownError: "too many requests; retry later",
    LoginDeniedError: "the user pool refused this login",
    InvalidLoginRequestError: "the user pool refused the request's parameters",
    CognitoMisconfiguredError: "the login service is misconfigured",
}


class CognitoLogin:
    def __init__(
        self,
        client: CognitoIdentityProviderClient,
        *,
        user_pool_id: str,
        client_id: str,
        client_secret: str | None,
        verifier: TokenVerifier,
        group_scopes: GroupScopes,
    ) -> None:
        self._client = client
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self._client_secret = client_secret
        self._verifier = verifier  # the pool's ID tokens, for our app client
        self._group_scopes = group_scopes

    def authenticate(self, username: str, password: str) -> CognitoUser:
        if not _acceptable(username, password):
            # Cognito would refuse it too; the same answer as a wrong password, without the call.
            raise InvalidCredentialsError(_DESCRIPTIONS[InvalidCredentialsError])
        result = self._initiate_auth(username, password)
        tokens = result.get("AuthenticationResult")
        if not tokens:
            raise self._challenge(str(result.get("ChallengeName", "")))
        id_token = tokens.get("IdToken")
        if not id_token:
            log_event(logger, "cognito_login_no_id_token", logging.ERROR, user_pool_id=self.user_pool_id)
            raise CognitoMisconfiguredError(_DESCRIPTIONS[CognitoMisconfiguredError])
        claims = self._verified(id_token)
        name = claims.raw.get("cognito:username")
        return CognitoUser(
            sub=claims.sub,
            username=name if isinstance(name, str) and name else username,
            scope=self._group_scopes.scope_for(claims.groups),
            origin_jti=claims.origin_jti,
            refresh_token=tokens.get("RefreshToken") or None,
        )

    def _initiate_auth(self, username: str, password: str) -> dict[str, Any]:
        parameters = {"USERNAME": username, "PASSWORD": password}
        if self._client_secret:
            parameters["SECRET_HASH"] = secret_hash(self._client_secret, username, self.client_id)
        try:
            response: dict[str, Any] = dict(
                self._client.initiate_auth(
                    ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=parameters
                )
            )
        except ClientError as exc:
            raise self._refusal(exc) from None
        except BotoCoreError as exc:  # no connection, timeouts, ...
            log_event(logger, "cognito_unreachable", logging.ERROR, error=type(exc).__name__)
            raise UnavailableError("the user pool cannot be reached; retry later") from None
        return response

    def _refusal(self, exc: ClientError) -> Exception:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = _ERRORS.get(code)
        if (
            code == "NotAuthorizedException"
            and "secret hash" in str(exc.response.get("Error", {}).get("Message", "")).lower()
        ):
            # Not the user's password: our AUTH_COGNITO_CLIENT_SECRET does not fit the app client.
            kind = CognitoMisconfiguredError
        if kind is None:
            log_event(logger, "cognito_unavailable", logging.ERROR, cognito_error=code, status=status)
            return UnavailableError("the user pool is unavailable; retry later")
        level = (
            logging.ERROR if kind in (CognitoMisconfiguredError, InvalidLoginRequestError) else logging.INFO
        )
        log_event(logger, "cognito_login_refused", level, cognito_error=code, error=kind.error)
        return kind(_DESCRIPTIONS[kind])

    def _challenge(self, name: str) -> CognitoLoginError:
        log_event(logger, "cognito_challenge", challenge=name)
        if name == "NEW_PASSWORD_REQUIRED":
            return NewPasswordRequiredError("the user must choose a new password first")
        if name in MFA_CHALLENGES:
            return MfaRequiredError(f"the user pool requires a second factor ({name})")
        return UnsupportedChallengeError(
            f"the user pool asks for a challenge this endpoint does not answer ({name})"
        )

    def _verified(self, id_token: str) -> TokenClaims:
        try:
            return self._verifier.verify(id_token)
        except (KidNotFoundError, JwksUnavailableError) as exc:
            # The pool's keys cannot be fetched, or a key rotation the cache has not caught up with.
            log_event(logger, "cognito_keys_unavailable", logging.ERROR, reason=str(exc))
            raise UnavailableError("the user pool's keys are unavailable; retry later") from None
        except TokenError as exc:
            # The pool's own token does not verify: issuer, region, client id or JWKS URI is wrong.
            log_event(logger, "cognito_id_token_refused", logging.ERROR, reason=str(exc))
            raise CognitoMisconfiguredError(_DESCRIPTIONS[CognitoMisconfiguredError]) from None


def _acceptable(username: str, password: str) -> bool:
    if not 1 <= len(username) <= MAX_USERNAME or not 1 <= len(password) <= MAX_PASSWORD:
        return False
    return all(unicodedata.category(character)[0] in _USERNAME_CATEGORIES for character in username)
