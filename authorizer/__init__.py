"""The Lambda authorizer of lambda-jwt-auth and the token verifier it is built on.

Deployable on its own: nothing here imports ``auth_service``.
"""
