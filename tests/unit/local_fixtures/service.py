"""A small serverless.yml in the style of the real one, routing to the handlers in this package."""

from __future__ import annotations

from pathlib import Path

SERVERLESS_YML = """
service: fixture-api
frameworkVersion: "3"

custom:
  stage: ${opt:stage, 'dev'}
  cachedTtl: ${param:cachedTtl, '60'}

provider:
  name: aws
  runtime: python3.12
  memorySize: 256
  timeout: 3
  environment:
    LOCAL_FIXTURE_SHARED: shared-value
    UNRESOLVED_VARIABLE: ${self:custom.stage}
    FROM_INTRINSIC: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    FROM_GETATT: !GetAtt Table.Arn
  httpApi:
    payload: "2.0"
    authorizers:
      simpleAuth:
        type: request
        functionName: simpleAuthorizer
        identitySource:
          - $request.header.Authorization
        enableSimpleResponses: true
        payloadVersion: "2.0"
        resultTtlInSeconds: 0
      cachedAuth:
        type: request
        functionName: simpleAuthorizer
        identitySource:
          - $request.header.Authorization
          - $request.querystring.tenant
        enableSimpleResponses: true
        resultTtlInSeconds: ${self:custom.cachedTtl}
      iamAuth:
        type: request
        functionName: iamAuthorizer
        identitySource: $request.header.Authorization
        enableSimpleResponses: false
        resultTtlInSeconds: ${param:iamTtl}

functions:
  echo:
    handler: tests/unit/local_fixtures/handlers.echo
    memorySize: 128
    events:
      - httpApi: "GET /items/{id}"
      - httpApi: "GET /items/special"
      - httpApi: "POST /echo"
      - httpApi: "ANY /files/{proxy+}"
      - httpApi: "GET /files/{proxy+}"
      - httpApi:
          method: GET
          path: /simple
          authorizer:
            name: simpleAuth
      - httpApi:
          method: GET
          path: /cached
          authorizer:
            name: cachedAuth
      - httpApi:
          method: GET
          path: /iam/{id}
          authorizer: iamAuth
      - schedule: rate(1 hour)

  configured:
    handler: tests/unit/local_fixtures/configured.handler
    environment:
      LOCAL_FIXTURE_SETTING: configured
      NUMBER_SETTING: 5
    events:
      - httpApi: "GET /configured"

  scripted:
    handler: tests/unit/local_fixtures/handlers.scripted
    events:
      - httpApi: "GET /scripted"

  slow:
    handler: tests/unit/local_fixtures/handlers.slow
    events:
      - httpApi: "GET /slow"

  environment:
    handler: tests/unit/local_fixtures/handlers.environment
    events:
      - httpApi: "GET /environment"

  brokenImport:
    handler: tests/unit/local_fixtures/broken_import.handler
    events:
      - httpApi: "GET /broken-import"

  simpleAuthorizer:
    handler: tests/unit/local_fixtures/authorizers.simple

  iamAuthorizer:
    handler: tests/unit/local_fixtures/authorizers.iam

resources:
  Resources:
    Table:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: ${self:service}-table
"""

CATCH_ALL_YML = """
service: catch-all
provider:
  name: aws
functions:
  echo:
    handler: tests/unit/local_fixtures/handlers.echo
    events:
      - httpApi: "GET /exact"
      - httpApi: "*"
"""


def write(directory: Path, text: str = SERVERLESS_YML) -> Path:
    path = directory / "serverless.yml"
    path.write_text(text, encoding="utf-8")
    return path
