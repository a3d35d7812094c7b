"""The Lambda authorizer: API Gateway events, decisions, routes, cookies, responses, configuration."""
