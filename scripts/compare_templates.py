#!/usr/bin/env python3
"""The osls template and the CDK construct's describe the same service: ``python
scripts/compare_templates.py OSLS_TEMPLATE CDK_TEMPLATE`` (both of one stage).

Every resource of one must be in the other with the same type and properties, but for what each
tool adds of its own (the framework's deployment bucket and function versions; the CDK's
bootstrap parameter and cross-stack exports), the code location (S3 bucket and key: each tool
uploads the same zips its own way, which scripts/check_artifacts.py checks), numbers the framework
writes as strings (CloudFormation reads both alike) and the route scopes a CDK app adds to the
authorizer's (AUTH_ROUTE_SCOPES may only grow). Exits 1 with one line per difference.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OSLS_ONLY_TYPES = {"AWS::Lambda::Version", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"}
CDK_ONLY_PARAMETERS = {"BootstrapVersion"}
ROUTE_SCOPES = "AUTH_ROUTE_SCOPES"


def _loose(value: Any) -> Any:
    """Numbers as the strings the framework writes; everything else as it is."""
    if isinstance(value, dict):
        return {key: _loose(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_loose(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _properties(resource: dict[str, Any]) -> dict[str, Any]:
    properties = dict(resource.get("Properties", {}))
    properties.pop("Code", None)
    return properties


def differences(osls: dict[str, Any], cdk: dict[str, Any]) -> list[str]:
    found: list[str] = []
    ours = {k: v for k, v in osls["Resources"].items() if v.get("Type") not in OSLS_ONLY_TYPES}
    theirs = cdk["Resources"]
    for name in sorted(set(ours) - set(theirs)):
        found.append(f"{name} ({ours[name]['Type']}): only in the osls template")
    for name in sorted(set(theirs) - set(ours)):
        if theirs[name].get("Type") not in ("AWS::CDK::Metadata",):
            found.append(f"{name} ({theirs[name]['Type']}): only in the CDK template")
    for name in sorted(set(ours) & set(theirs)):
        a, b = ours[name], theirs[name]
        if a["Type"] != b["Type"]:
            found.append(f"{name}: {a['Type']} in osls, {b['Type']} in CDK")
            continue
        pa, pb = _properties(a), _properties(b)
        variables_a = pa.get("Environment", {}).get("Variables", {})
        variables_b = pb.get("Environment", {}).get("Variables", {})
        if ROUTE_SCOPES in variables_a and ROUTE_SCOPES in variables_b:
            own, added = json.loads(variables_a[ROUTE_SCOPES]), json.loads(variables_b[ROUTE_SCOPES])
            if any(added.get(route) != scopes for route, scopes in own.items()):
                found.append(f"{name}: {ROUTE_SCOPES} changes serverless.yml's own routes")
            variables_b[ROUTE_SCOPES] = variables_a[ROUTE_SCOPES]
        for key in sorted(set(pa) | set(pb)):
            if _loose(pa.get(key)) != _loose(pb.get(key)):
                seen = (json.dumps(pa.get(key))[:200], json.dumps(pb.get(key))[:200])
                found.append(f"{name}.{key}: osls {seen[0]} != CDK {seen[1]}")
        if a.get("Condition") != b.get("Condition"):
            found.append(f"{name}: Condition {a.get('Condition')!r} in osls, {b.get('Condition')!r} in CDK")
    for section in ("Parameters", "Conditions"):
        a_section, b_section = osls.get(section, {}), cdk.get(section, {})
        for key in sorted(set(a_section) | (set(b_section) - CDK_ONLY_PARAMETERS)):
            if _loose(a_section.get(key)) != _loose(b_section.get(key)):
                found.append(f"{section}.{key}: differs")
    return found


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: compare_templates.py OSLS_TEMPLATE CDK_TEMPLATE", file=sys.stderr)
        return 2
    osls, cdk = (json.loads(Path(path).read_text(encoding="utf-8")) for path in args)
    found = differences(osls, cdk)
    for line in found:
        print(f"TEMPLATES DIFFER: {line}", file=sys.stderr)
    if found:
        print(f"compare_templates: {len(found)} difference(s)", file=sys.stderr)
        return 1
    print(f"compare_templates: OK ({len(cdk['Resources'])} resources of the CDK template match the osls one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
