"""The issuing side of lambda-jwt-auth: login, refresh, logout, revocation, JWKS and discovery."""
