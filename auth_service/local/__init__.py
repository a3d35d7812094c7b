"""Local emulation of API Gateway HTTP API and Lambda that `auth-service serve` runs.

serverless.yml is the single description of what deploys; this package reads it
(`service_definition`), runs its functions in-process (`lambda_runtime`), routes and authorizes
requests the way an HTTP API does (`routing`, `events`, `iam_policy`, `gateway`), serves them over
HTTP (`http_server`) with an embedded DynamoDB (`dynamodb`), and ties it together (`serve`).
None of it is packaged for deployment (serverless.yml excludes `auth_service/local/**`).
"""
