"""The issuing side of lambda-jwt-auth: login, refresh, logout, revocation, JWKS and discovery.

It needs the `service` extra (PyJWT, boto3, argon2-cffi); `pip install lambda-jwt-auth` alone
gives the verifier library and the authorizer (`authorizer`), with cryptography only.
"""

from importlib.util import find_spec as _find_spec

_MISSING = [name for name in ("jwt", "boto3", "argon2") if _find_spec(name) is None]
if _MISSING:
    raise ImportError(
        f"auth_service needs {', '.join(_MISSING)}: pip install 'lambda-jwt-auth[service]' "
        "(the verifier alone, `from authorizer import JwtVerifier`, needs none of them)"
    )
