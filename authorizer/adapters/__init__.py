"""Small adapters over the verifier library (authorizer.tokens.jwt_verifier), one module a framework:

* `authorizer.principal.authenticated(verifier=...)`: Lambda handlers behind an ALB or a function
  URL, where no API Gateway authorizer runs (and behind API Gateway, from its authorizer context);
* `authorizer.adapters.fastapi`: a FastAPI dependency;
* `authorizer.adapters.asgi`: an ASGI middleware (Starlette and any ASGI app);
* `authorizer.adapters.flask`: a Flask decorator;
* `authorizer.adapters.powertools`: a middleware for Powertools for AWS Lambda's event handler.

Each takes a configured verifier and answers refusals the same way (`authorizer.tokens.bearer`, which
the Lambda decorator shares):
401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750), 403 `insufficient_scope`
naming the scopes, 503 when revocation could not be checked. Imports point one way: adapters use
the library, never the other way round; a framework is imported only by its own adapter.
"""
