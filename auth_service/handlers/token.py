"""POST /auth/token: RFC 8693 token exchange of a Cognito ID or access token for a pair of ours.

grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token=<Cognito token>,
subject_token_type=urn:ietf:params:oauth:token-type:id_token (or ...:access_token), form-encoded
or JSON. Without a configured user pool no grant is supported here (400 unsupported_grant_type).
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import HttpError, Request, endpoint, json_response, read_params, unauthorized
from auth_service.token_exchange import ExchangeError, exchange_response, parse_exchange_request
from authorizer.errors import TokenError

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_exchange = runtime.token_exchange()
_audience = runtime.config().audience


def token(request: Request) -> dict[str, Any]:
    params = read_params(request)
    try:
        if _exchange is None:
            raise ExchangeError(
                "unsupported_grant_type", "no grant is configured here (no Cognito user pool)"
            )
        pair = _exchange.exchange(parse_exchange_request(params, audience=_audience))
    except ExchangeError as exc:
        raise HttpError(exc.status, exc.error, str(exc)) from None
    except TokenError as exc:
        # As POST /auth/refresh answers a bad refresh token.
        raise unauthorized(str(exc), error="invalid_grant") from None
    return json_response(200, exchange_response(pair))


handler = endpoint(token, max_body_bytes=runtime.config().max_body_bytes)
