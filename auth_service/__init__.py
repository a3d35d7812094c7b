"""The issuing side of lambda-jwt-auth: login, refresh, logout, revocation, JWKS and discovery.

It needs the `service` extra (PyJWT, boto3, argon2-cffi); `pip install lambda-jwt-auth` alone
gives the verifier library and the authorizer (`authorizer`), with cryptography only. The
commands (auth_service.cli) say so when the extra is missing.
"""
