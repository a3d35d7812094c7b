#!/usr/bin/env bash
# Proof that scripts/check_deploy.sh catches breaches: copy the repository twice, break
# serverless.yml in each copy on purpose, run check_deploy.sh there, and fail unless each run
# fails with the breach we injected:
#   1. `Resource: "*"` on the authorizer's DynamoDB statement,
#   2. no TTL on the denylist table,
#   3. kms:Sign on every key of the account (the kms:ResourceAliases condition dropped).
# Needs what check_deploy.sh needs (dev virtualenv active, `npm ci` done); the copies reuse this
# checkout's node_modules through a symlink.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

die() { printf 'check_deploy_breaks: %s\n' "$*" >&2; exit 1; }

[[ -d node_modules ]] || die "node_modules is missing: run \`npm ci\` first"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-deploy-breaks.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The files of this checkout: tracked and untracked ones, never git-ignored ones (node_modules,
# .venv, .build, .serverless, keys). Outside a git checkout, everything but those.
list_files() {
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard
  else
    find . -type f \
      -not -path './.git/*' -not -path './node_modules/*' -not -path './.venv/*' \
      -not -path './.build/*' -not -path './.serverless/*' -not -path '*/__pycache__/*' \
      -not -path './.mypy_cache/*' -not -path './.ruff_cache/*' -not -path './.pytest_cache/*' \
      -not -path './*.egg-info/*' -not -name '*.pem' -print0 | sed -z 's|^\./||'
  fi
}

copy_repo() {
  local dest=$1
  mkdir -p "$dest"
  # Only files that exist (a tracked file may be deleted in the working tree).
  list_files | while IFS= read -r -d '' file; do
    [[ -f "$file" ]] && printf '%s\0' "$file"
  done | tar --null -T - -cf - | tar -xf - -C "$dest"
  ln -s "$REPO/node_modules" "$dest/node_modules"
}

# edit FILE PYTHON-EXPRESSION: rewrite FILE with `text` bound to its content; fail if unchanged.
edit() {
  local file=$1 expression=$2
  python - "$file" "$expression" <<'PY'
import sys
from pathlib import Path

path, expression = Path(sys.argv[1]), sys.argv[2]
text = path.read_text(encoding="utf-8")
changed = eval(expression, {"re": __import__("re")}, {"text": text})  # noqa: S307 - our own literal
if changed == text:
    sys.exit(f"check_deploy_breaks: the injection did not change {path}; update this script")
path.write_text(changed, encoding="utf-8")
PY
}

# expect_breach NAME PATTERN: check_deploy.sh in copy NAME must fail and print PATTERN (grep -E).
expect_breach() {
  local name=$1 pattern=$2 log="$WORK/$1.log" status=0
  printf '\n== %s: running check_deploy.sh on the broken copy\n' "$name"
  (cd "$WORK/$name" && bash scripts/check_deploy.sh) >"$log" 2>&1 || status=$?
  if [[ $status -eq 0 ]]; then
    cat "$log"
    die "$name: check_deploy.sh passed, but it must catch this breach"
  fi
  if ! grep -Eq -- "$pattern" "$log"; then
    cat "$log"
    die "$name: check_deploy.sh failed (exit $status) but not with the expected breach /$pattern/"
  fi
  printf '%s: caught as expected (exit %s):\n' "$name" "$status"
  grep -E -- "$pattern" "$log" | sed 's/^/  /'
}

copy_repo "$WORK/wildcard-dynamodb"
# The first DynamoDB statement that names the denylist is the authorizer role's.
edit "$WORK/wildcard-dynamodb/serverless.yml" \
  "text.replace('Resource: *denylistArn', 'Resource: \"*\"', 1)"
expect_breach wildcard-dynamodb \
  "POLICY BREACH: AuthorizerRole policy 'authorize' statement 1: dynamodb:[A-Za-z]+ on \*: a wildcard resource"

copy_repo "$WORK/no-denylist-ttl"
edit "$WORK/no-denylist-ttl/serverless.yml" \
  "re.sub(r'\n +TimeToLiveSpecification:\n +AttributeName: expires_at\n +Enabled: true', '', text, count=1)"
expect_breach no-denylist-ttl \
  "POLICY BREACH: DenylistTable: TTL is not enabled on expires_at"

copy_repo "$WORK/kms-sign-any-key"
edit "$WORK/kms-sign-any-key/serverless.yml" \
  "re.sub(r'\n +Condition:\n +ForAnyValue:StringLike:\n +kms:ResourceAliases: [^\n]+', '', text, count=1)"
expect_breach kms-sign-any-key \
  "POLICY BREACH: LoginRole policy 'login' statement [0-9]+: kms:Sign on .*must be limited with ForAnyValue:StringLike kms:ResourceAliases"

# An alarm on a metric name the code no longer writes would never fire.
copy_repo "$WORK/alarm-on-unwritten-metric"
edit "$WORK/alarm-on-unwritten-metric/serverless.yml" \
  "text.replace('MetricName: FailClosedRefusals', 'MetricName: FailClosedRefusal', 1)"
expect_breach alarm-on-unwritten-metric \
  "POLICY BREACH: FailClosedAlarm: metric .*FailClosedRefusal.* is written by none of our functions"

# The CDK construct's template is judged by the same rules: its log groups without retention.
copy_repo "$WORK/cdk-log-retention"
edit "$WORK/cdk-log-retention/deploy/cdk/lambda_jwt_auth_cdk/template.py" \
  "text.replace(', \"RetentionInDays\": retention}', '}', 1)"
expect_breach cdk-log-retention \
  "POLICY BREACH: AuthorizerLogGroup: no RetentionInDays"

printf '\ncheck_deploy_breaks: OK (every injected breach was caught)\n'
