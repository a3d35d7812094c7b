"""Amazon Cognito: logins through a user pool, groups as scopes, its refresh tokens, token exchange."""
