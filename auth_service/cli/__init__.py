"""The operator commands: `auth-service` (main) and `inspect-token`."""

# Checked here, where the commands start, not in every Lambda function's cold start (their zip
# always carries these): a plain `pip install lambda-jwt-auth` gets a sentence, not a traceback.
from importlib.util import find_spec as _find_spec

_MISSING = [name for name in ("jwt", "boto3", "argon2") if _find_spec(name) is None]
if _MISSING:
    raise SystemExit(
        f"auth-service needs {', '.join(_MISSING)}: pip install 'lambda-jwt-auth[service]' "
        "(the verifier alone, `from authorizer import JwtVerifier`, needs none of them)"
    )
