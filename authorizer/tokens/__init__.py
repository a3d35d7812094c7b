"""The verifier library: parsing, keys, JWKS, claims, issuers, Cognito, errors, caches."""
