"""Local emulation of API Gateway HTTP API and Lambda that `auth-service serve` runs.

serverless.yml is the single description of what deploys; this package reads it
(`service_definition`), runs each function in container processes of its own (`lambda_runtime`,
`container`, `lambda_worker`; forked by `container_template` and `lambda_template`), routes and
authorizes requests the way an HTTP API does (`routing`, `events`, `iam_policy`, `gateway`), serves them over
HTTP (`http_server`) with an embedded DynamoDB (`dynamodb`), and ties it together (`serve`).
None of it is packaged for deployment (serverless.yml excludes `auth_service/local/**`).
"""
