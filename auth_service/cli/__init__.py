"""The operator commands: `auth-service` (main) and `inspect-token`."""
