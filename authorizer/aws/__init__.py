"""AWS without boto3: SigV4, one kept-alive HTTP(S) connection, credentials, DynamoDB, SSM, SnapStart."""
