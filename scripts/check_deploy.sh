#!/usr/bin/env bash
# The deploy check, without AWS: build the Lambda zips, `serverless package` the ci stage with dummy
# credentials, lint the CloudFormation it writes, then check our IAM/data rules and the zips.
# Then the same for the AWS CDK construct's template (deploy/cdk), and that both templates match.
# Needs: the dev virtualenv active with the cdk extra (pip install -e '.[dev,cdk]': cfn-lint, packaging,
# aws-cdk-lib) and `npm ci` done.
# Fails (non-zero) on the first step that fails; check_policies/check_artifacts print one line per breach.
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE=ci
TEMPLATE=.serverless/cloudformation-template-update-stack.json

step() { printf '\n== %s\n' "$*"; }
die() { printf 'check_deploy: %s\n' "$*" >&2; exit 1; }

[[ -x node_modules/.bin/serverless ]] || die "node_modules/.bin/serverless is missing: run \`npm ci\` first"
command -v cfn-lint >/dev/null || die "cfn-lint is not on PATH: activate the dev virtualenv (pip install -e '.[dev]')"
python -c 'import packaging' 2>/dev/null || die "python cannot import packaging: activate the dev virtualenv"

step "Lambda artifacts (scripts/build_lambda.py)"
python scripts/build_lambda.py --out .build

# Dummy credentials and no config files: packaging never needs AWS, and if it ever tried, the call
# would fail to authenticate instead of reaching a real account.
package() {
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_PROFILE \
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
    node_modules/.bin/serverless package --stage "$STAGE" "$@"
}

step "serverless package --stage $STAGE --param authorizerSnapStart=true (the SnapStart variant)"
SNAPSTART_DIR=.serverless-snapstart
rm -rf "$SNAPSTART_DIR"
package --param authorizerSnapStart=true --package "$SNAPSTART_DIR"
cfn-lint --ignore-checks W3005 -- "$SNAPSTART_DIR"/cloudformation-template-*.json
# SnapStart only applies to published versions: the HTTP API must invoke the authorizer's alias.
python - "$SNAPSTART_DIR/cloudformation-template-update-stack.json" <<'PY'
import json, sys
resources = json.load(open(sys.argv[1]))["Resources"]
function = resources["AuthorizerLambdaFunction"]["Properties"]
assert function.get("SnapStart") == {"ApplyOn": "PublishedVersions"}, function.get("SnapStart")
alias = resources["AuthorizerSnapStartLambdaAlias"]["Properties"]
assert alias["Name"] == "snapstart" and "Fn::GetAtt" in alias["FunctionVersion"], alias
uris = [json.dumps(r["Properties"]["AuthorizerUri"]) for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Authorizer"]
assert uris and all('"snapstart"' in uri for uri in uris), uris
others = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function" and "SnapStart" in r["Properties"] and name != "AuthorizerLambdaFunction"]
assert not others, others
print("SnapStart variant: the authorizer snapshots its published version, invoked through its alias")
PY
python scripts/check_deployer_policy.py --stack-name "lambda-jwt-auth-$STAGE" "$SNAPSTART_DIR/cloudformation-template-update-stack.json"
rm -rf "$SNAPSTART_DIR"

step "serverless package --stage $STAGE --param replicaRegions=... / primaryRegion=... (several regions)"
for variant in "replicaRegions=eu-west-1,ap-southeast-2,sa-east-1" "primaryRegion=us-east-1"; do
  REGIONS_DIR=.serverless-regions
  rm -rf "$REGIONS_DIR"
  package --param "$variant" --package "$REGIONS_DIR"
  cfn-lint --ignore-checks W3005 -- "$REGIONS_DIR"/cloudformation-template-*.json
  python scripts/check_policies.py "$REGIONS_DIR/cloudformation-template-update-stack.json"
  python scripts/check_deployer_policy.py --stack-name "lambda-jwt-auth-$STAGE" "$REGIONS_DIR/cloudformation-template-update-stack.json"
  python - "$REGIONS_DIR/cloudformation-template-update-stack.json" "$variant" <<'PY'
import json, sys
template, variant = json.load(open(sys.argv[1])), sys.argv[2]
name, value = variant.split("=")
parameter = {"replicaRegions": "ReplicaRegions", "primaryRegion": "PrimaryRegion"}[name]
assert template["Parameters"][parameter]["Default"] == value, template["Parameters"][parameter]
print(f"{variant}: the tables' conditions read {parameter}={value}")
PY
  rm -rf "$REGIONS_DIR"
done

step "serverless package --stage $STAGE (dummy credentials, no AWS calls)"
rm -rf .serverless
package
[[ -f "$TEMPLATE" ]] || die "serverless package wrote no $TEMPLATE"

step "cfn-lint"
# W3005 ("dependency already enforced by GetAtt/Ref") is ignored on purpose: osls (as Serverless v3)
# adds a redundant DependsOn on every function's role and every route's integration. It only says
# a DependsOn is redundant, and the framework generates those resources, not us. Everything else,
# warnings included, fails the check.
cfn-lint --ignore-checks W3005 -- .serverless/cloudformation-template-*.json
echo "cfn-lint: OK"

step "IAM and data rules (scripts/check_policies.py)"
python scripts/check_policies.py "$TEMPLATE"

step "the deployer's example IAM policy (scripts/check_deployer_policy.py, deploy/deployer-policy.json)"
python scripts/check_deployer_policy.py --stack-name "lambda-jwt-auth-$STAGE" \
  "$TEMPLATE" .serverless/cloudformation-template-create-stack.json

step "artifacts (scripts/check_artifacts.py)"
python scripts/check_artifacts.py "$TEMPLATE" --build-dir .build

# The AWS CDK construct (deploy/cdk): the same service from the same serverless.yml, synthesized
# offline; the same checks on its template, and proof that it is the osls template's twin.
CDK_OUT=deploy/cdk/cdk.out
CDK_TEMPLATE="$CDK_OUT/LambdaJwtAuth-$STAGE.template.json"
step "cdk synth -c stage=$STAGE (deploy/cdk: the construct, and an example API attached to it)"
[[ -x node_modules/.bin/cdk ]] || die "node_modules/.bin/cdk is missing: run \`npm ci\` first"
python -c 'import aws_cdk' 2>/dev/null || die "python cannot import aws_cdk: pip install -e '.[dev,cdk]' in the dev virtualenv"
rm -rf "$CDK_OUT"
(
  cd deploy/cdk
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_PROFILE \
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    CDK_DISABLE_CLI_TELEMETRY=true \
    ../../node_modules/.bin/cdk synth --no-notices --no-version-reporting --quiet -c stage="$STAGE" -o cdk.out
) >"$CDK_OUT.log" 2>&1 || { cat "$CDK_OUT.log"; die "cdk synth failed"; }
[[ -f "$CDK_TEMPLATE" ]] || die "cdk synth wrote no $CDK_TEMPLATE"
cfn-lint --ignore-checks W3005 -- "$CDK_OUT"/*.template.json
echo "cfn-lint (CDK templates): OK"
python scripts/check_policies.py "$CDK_TEMPLATE"
python scripts/check_artifacts.py "$CDK_TEMPLATE" --build-dir .build --asset-dir "$CDK_OUT"
python scripts/compare_templates.py "$TEMPLATE" "$CDK_TEMPLATE"

printf '\ncheck_deploy: OK\n'
