"""Lambda entry points: thin adapters from API Gateway events to `auth_service.sessions`."""
