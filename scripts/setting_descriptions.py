"""What each environment variable of the configuration does, for docs/reference/configuration.md.

scripts/gen_reference.py records the variables `AuthorizerConfig.from_env` and
`ServiceConfig.from_env` read and renders this text next to each one. It fails when a recorded
variable has no entry here, or when an entry names a variable the configuration no longer reads:
add, rename or remove the entry together with the code.

Written for someone deploying the service: what the variable controls, its unit, what leaving it
unset means, what a value looks like. Markdown inline code is fine; no links, and no `|` (each
entry is one table cell).
"""

from __future__ import annotations

DESCRIPTIONS: dict[str, str] = {
    # ------------------------------------------------------------------ tokens and keys
    "AUTH_ISSUER": (
        "The exact `iss` of our tokens, compared byte for byte: an `https://` URL (`http://` only on "
        "localhost) with no trailing slash, query or fragment."
    ),
    "AUTH_AUDIENCE": (
        "The `aud` of our access tokens. The authorizer accepts a comma-separated list; the issuing "
        "functions issue tokens for the first one, which must differ from `AUTH_ISSUER`."
    ),
    "AUTH_ACCESS_TOKEN_TTL": "Lifetime of the access tokens the issuing functions sign, in seconds.",
    "AUTH_REFRESH_TOKEN_TTL": "Lifetime of the refresh tokens, in seconds (the default is 30 days).",
    "AUTH_LEEWAY_SECONDS": "Clock skew allowed when checking a token's `exp`, `nbf` and `iat`, in seconds.",
    "AUTH_MAX_TOKEN_BYTES": (
        "Longer tokens are refused unread: ours, trusted issuers' (authorizer) and the Cognito tokens "
        "exchanged or logged in with. A session from a Cognito login carries the Cognito refresh token "
        "sealed in ours, 2 to 3 KB longer: keep this above 4 KB."
    ),
    "AUTH_CLIENT_ID": "The `client_id` claim of the tokens the issuing functions sign.",
    "AUTH_JWKS": (
        "The public keys tokens are verified with, as inline JWKS JSON (`{\"keys\": [...]}`). Set only "
        "one of `AUTH_JWKS`, `AUTH_JWKS_FILE`, `AUTH_JWKS_SSM_PARAMETER`: the authorizer needs one; the "
        "issuing functions derive the public keys from their signing keys when none is set."
    ),
    "AUTH_JWKS_FILE": (
        "The path of a file holding the JWKS JSON (the public keys); an unreadable file fails the cold "
        "start. An alternative to `AUTH_JWKS` and `AUTH_JWKS_SSM_PARAMETER`."
    ),
    "AUTH_JWKS_SSM_PARAMETER": (
        "The name of an SSM String parameter holding the JWKS JSON (the public keys), re-read as "
        "`AUTH_KEYS_MAX_AGE_SECONDS` says. An alternative to `AUTH_JWKS` and `AUTH_JWKS_FILE`."
    ),
    "AUTH_SIGNING_KEY": (
        "The signing keys, inline: a key set (the JSON `auth-service keys init` writes: KMS or PEM keys "
        "with their states) or a PEM bundle (the first block signs, further blocks are retired keys that "
        "still verify). Set only one of the four `AUTH_SIGNING_KEY*` variables."
    ),
    "AUTH_SIGNING_KEY_FILE": (
        "The path of a file holding the signing keys (a key set or a PEM bundle, as `AUTH_SIGNING_KEY`)."
    ),
    "AUTH_SIGNING_KEY_SSM_PARAMETER": (
        "The name of an SSM SecureString parameter holding the signing keys (a key set or a PEM bundle, "
        "as `AUTH_SIGNING_KEY`), re-read as `AUTH_KEYS_MAX_AGE_SECONDS` says."
    ),
    "AUTH_SIGNING_KEY_SECRET_ID": (
        "The id (name or ARN) of a Secrets Manager secret whose string holds the signing keys (a key set "
        "or a PEM bundle, as `AUTH_SIGNING_KEY`), re-read as `AUTH_KEYS_MAX_AGE_SECONDS` says."
    ),
    "AUTH_KEYS_MAX_AGE_SECONDS": (
        "Our own keys kept in SSM (the key set, the JWKS) are re-read once this old, in seconds, and at "
        "once on a token naming an unknown `kid`; the verified-token cache re-verifies a token after the "
        "same age. The bound within which a key rotation or a revoked key reaches every warm container."
    ),
    "AUTH_JWKS_COOLDOWN_SECONDS": (
        "Keys are re-read on a token naming an unknown `kid` at most once per this many seconds, and a "
        "failed read is retried after it: our own keys, and (authorizer) the trusted issuers' JWKS. "
        "Meanwhile such tokens are refused."
    ),
    # ------------------------------------------------------------------ authorizer
    "AUTH_ROUTE_SCOPES": (
        "JSON map of route to required scopes, e.g. `{\"GET /me\": [\"profile\"], "
        "\"ANY /admin/{proxy+}\": [\"admin\"]}`. A route listing several scopes needs all of them (a "
        "request matching several rules, all of theirs); unset or unlisted routes need a valid token "
        "only; a missing scope is a 403."
    ),
    "AUTH_TRUSTED_ISSUERS": (
        "JSON list of Cognito user pools and OIDC issuers whose tokens the authorizer accepts besides "
        "ours, each an object with its `issuer`, its keys (`jwks_uri`, `jwks` or `jwks_file`; a Cognito "
        "pool's by default) and its accepted `audiences` (Cognito: `client_ids`). Unset: only our tokens."
    ),
    "AUTH_REVOCATION_CACHE_SECONDS": (
        "How long, in seconds, a container reuses a \"not revoked\" answer from the denylist (never past "
        "the token's `exp`); it adds to the revocation delay. `0` reads the denylist on every request."
    ),
    "AUTH_REVOCATION_GRACE_SECONDS": (
        "Opt-in grace mode: while DynamoDB fails, reuse a token's last known \"not revoked\" answer up to "
        "this many seconds longer. `0` (off): the authorizer fails closed when it cannot read the denylist."
    ),
    "AUTH_VERIFIED_TOKEN_CACHE_SIZE": (
        "How many verified tokens a container remembers: the same token again skips the signature and "
        "claim checks (never the revocation check, never past `exp` plus leeway). `0` turns it off."
    ),
    "AUTH_HTTP_API_SIMPLE_RESPONSES": (
        "`true`: answer HTTP API (payload 2.0) requests with simple responses (`isAuthorized`); `false`: "
        "with IAM policies. It must match the HTTP API authorizer's `enableSimpleResponses`."
    ),
    "AUTH_LOG_ALLOWED": (
        "`true`: also log an `authorize` line for each allowed request. Refusals are always logged."
    ),
    "AUTH_TOKEN_SOURCES": (
        "Where the authorizer takes the access token from: `header` (the Authorization header) or "
        "`header,cookie` (also the access cookie, which needs `AUTH_COOKIES=on`). Unset: `header`, or "
        "`header,cookie` when cookies are on."
    ),
    "AUTH_JWKS_FETCH_TIMEOUT_MS": (
        "The longest a fetch of a trusted issuer's JWKS may take, connecting included, in milliseconds."
    ),
    "AUTH_JWKS_MAX_AGE_SECONDS": "A trusted issuer's keys are fetched again once this old, in seconds.",
    # ------------------------------------------------------------------ issuing functions
    "AUTH_DENYLIST_TABLE": (
        "The DynamoDB denylist table: revoked tokens, sessions and users, and the login-throttling "
        "counters. serverless.yml sets it to the stack's own table."
    ),
    "AUTH_USERS_TABLE": (
        "The DynamoDB user table, where the `table` identity backend checks passwords; the login "
        "function fails without it."
    ),
    "AUTH_CLIENTS_TABLE": (
        "The DynamoDB table of registered machine (OAuth) clients. Unset: no `client_credentials` grant, "
        "and the authorization server metadata does not list it."
    ),
    "AUTH_INTROSPECTION_SCOPE": (
        "The scope a caller (a Bearer token or a registered client) needs to use `POST /auth/introspect`."
    ),
    "AUTH_MAX_BODY_BYTES": "Request bodies larger than this many bytes are refused with 413.",
    "AUTH_LOGIN_MAX_FAILURES_PER_USER": (
        "Login throttling: failed logins allowed per username tried within "
        "`AUTH_LOGIN_FAILURE_WINDOW_SECONDS`, after which that username gets 429 `slow_down` for "
        "`AUTH_LOGIN_LOCKOUT_SECONDS`. `0` turns this limit off."
    ),
    "AUTH_LOGIN_MAX_FAILURES_PER_IP": (
        "Login throttling: failed logins allowed per client address within "
        "`AUTH_LOGIN_FAILURE_WINDOW_SECONDS`, after which that address gets 429 `slow_down` for "
        "`AUTH_LOGIN_LOCKOUT_SECONDS`. `0` turns this limit off."
    ),
    "AUTH_LOGIN_FAILURE_WINDOW_SECONDS": (
        "The window, in seconds, within which failed logins are counted against the per-user and "
        "per-address limits."
    ),
    "AUTH_LOGIN_LOCKOUT_SECONDS": (
        "How long, in seconds, a username or address that reached its limit of failed logins is refused."
    ),
    # ------------------------------------------------------------------ Cognito
    "AUTH_IDENTITY_BACKEND": (
        "Who checks passwords at `POST /auth/login`: `table` (our user table) or `cognito` (the user "
        "pool of `AUTH_COGNITO_USER_POOL_ID`)."
    ),
    "AUTH_COGNITO_USER_POOL_ID": (
        "The Cognito user pool, e.g. `us-east-1_AbCdEf123` (its prefix must be the Cognito region). "
        "Required with the `cognito` backend; set without it, it only enables token exchange at "
        "`POST /auth/token`."
    ),
    "AUTH_COGNITO_CLIENT_ID": (
        "The pool's app client id, required whenever a pool is configured: Cognito ID tokens must name "
        "it in `aud`, access tokens in `client_id`."
    ),
    "AUTH_COGNITO_CLIENT_SECRET": (
        "The app client's secret, if it has one (for `SECRET_HASH` and `RevokeToken`). Unset: an app "
        "client without a secret."
    ),
    "AUTH_COGNITO_REGION": (
        "The user pool's region; it must match the pool id's prefix. Unset: the function's own region."
    ),
    "AUTH_COGNITO_ENDPOINT": (
        "Another Cognito API endpoint, an `http(s)://` URL (local runs). Unset: AWS's own."
    ),
    "AUTH_COGNITO_JWKS_URI": (
        "Where the pool's keys are fetched, an `http(s)://` URL. Unset: "
        "`https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json`."
    ),
    "AUTH_COGNITO_GROUP_SCOPES": (
        "JSON object mapping a Cognito group to the scopes its members get, e.g. "
        "`{\"admins\": \"admin orders:write\"}`, added to `AUTH_COGNITO_DEFAULT_SCOPE`. Unset: none."
    ),
    "AUTH_COGNITO_DEFAULT_SCOPE": "The scopes (space-separated) every user of the pool gets.",
    # ------------------------------------------------------------------ browser sessions (cookies)
    "AUTH_COOKIES": (
        "`on`: browser sessions in cookies; a login with `X-Token-Delivery: cookie` gets its tokens as "
        "HttpOnly cookies, and the authorizer also reads the access cookie (with CSRF checks). `off`: none."
    ),
    "AUTH_ALLOWED_ORIGINS": (
        "Comma-separated exact origins (`https://app.example.com`, no path or trailing slash) of the "
        "pages allowed to use the session and CORS; required with `AUTH_COOKIES=on`, `*` is refused."
    ),
    "AUTH_COOKIE_SAMESITE": "The cookies' `SameSite` attribute: `Strict` or `Lax` (`None` is refused).",
    "AUTH_COOKIE_SECURE_PREFIX": (
        "`true`: the cookie names carry the `__Host-` / `__Secure-` prefixes (`__Host-access_token`, "
        "`__Secure-refresh_token`, `__Host-csrf_token`); `false`: the same names without them."
    ),
    # ------------------------------------------------------------------ metrics
    "AUTH_METRICS_NAMESPACE": (
        "The CloudWatch namespace of the functions' metric lines (Embedded Metric Format, in their "
        "logs): 1 to 255 printable ASCII characters, not starting with `AWS/`. Unset: no metrics."
    ),
    "AUTH_METRICS_SERVICE": (
        "The value of the metrics' `Service` dimension; serverless.yml sets `<service>-<stage>`."
    ),
    # ------------------------------------------------------------------ AWS endpoints and network
    "AUTH_DYNAMODB_ENDPOINT": (
        "Another DynamoDB endpoint (local runs; `http://` allowed), winning over the `AWS_ENDPOINT_URL*` "
        "variables. With it and no AWS credentials, the authorizer signs its requests with throwaway keys."
    ),
    "AWS_REGION": (
        "The region (set by Lambda), and with it the AWS endpoints, by partition. Lowercase letters, "
        "digits and hyphens; unset (and no `AWS_DEFAULT_REGION`): `us-east-1`."
    ),
    "AWS_DEFAULT_REGION": "The region when `AWS_REGION` is unset.",
    "AWS_ENDPOINT_URL": (
        "The AWS SDKs' endpoint override for every service without its own `AWS_ENDPOINT_URL_<SERVICE>` "
        "(a VPC endpoint, LocalStack): `http(s)://host[:port][/path]`, checked at cold start."
    ),
    "AWS_ENDPOINT_URL_DYNAMODB": (
        "The AWS SDKs' endpoint override for DynamoDB: `http(s)://host[:port][/path]`, checked at cold "
        "start. `AUTH_DYNAMODB_ENDPOINT` wins over it."
    ),
    "AWS_ENDPOINT_URL_SSM": (
        "The AWS SDKs' endpoint override for SSM, where the keys are read: "
        "`http(s)://host[:port][/path]`, checked at cold start."
    ),
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": (
        "`true`: ignore the `AWS_ENDPOINT_URL*` variables, as the AWS SDKs do (`AUTH_DYNAMODB_ENDPOINT` "
        "still applies)."
    ),
    "AWS_CA_BUNDLE": (
        "A PEM file of the only CAs the authorizer's HTTPS trusts (DynamoDB, SSM, the credential endpoint, "
        "JWKS URLs), as the AWS SDKs read it; unreadable or holding no certificate fails the cold start. "
        "Unset: the system's CAs."
    ),
    "HTTPS_PROXY": (
        "`http://[user:password@]host[:port]` of a proxy that tunnels the authorizer's https connections "
        "(DynamoDB, SSM, JWKS URLs) with CONNECT; `NO_PROXY` lists hosts reached directly. A value of "
        "another form fails the cold start. Unset: no proxy."
    ),
    "https_proxy": "The lowercase spelling of `HTTPS_PROXY`, read when that is unset.",
}
