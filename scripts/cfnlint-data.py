#!/usr/bin/env python3
"""AWS's own reading of template.yaml, through what cfn-lint installs.

  cfnlint-data.py transform TEMPLATE      the template after the real SAM
                                          transform (samtranslator), as JSON
  cfnlint-data.py schemas TYPE...         {type: [property, ...]} from the
                                          CloudFormation registry schemas that
                                          cfn-lint ships (us-east-1)

internal/samtemplate runs it with the Python that runs cfn-lint; nothing is
fetched. Exit 3: cfn-lint or samtranslator is not importable.
"""
import json
import os
import sys

try:
    from cfnlint.decode import decode
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator
except ImportError as e:  # pragma: no cover
    print(f"cfnlint-data.py: {e}", file=sys.stderr)
    sys.exit(3)


def transform(path):
    tpl, matches = decode(path)
    if matches:
        sys.exit(f"cfnlint-data.py: {path}: " + "; ".join(str(m) for m in matches))
    tpl = json.loads(json.dumps(tpl))
    # SAM CLI uploads local code and rewrites CodeUri to an S3 URI before the
    # transform; the translator refuses local paths. Nothing else is changed.
    for r in tpl.get("Resources", {}).values():
        if r.get("Type") == "AWS::Serverless::Function":
            r.setdefault("Properties", {})["CodeUri"] = "s3://sam-artifacts/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(
        sam_template=tpl, parameter_values={}, passthrough_metadata=True)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


def schemas(types):
    out = {}
    for t in types:
        try:
            s = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", t)
        except Exception as e:  # an unknown type
            sys.exit(f"cfnlint-data.py: {t}: {e}")
        out[t] = sorted(s.schema.get("properties", {}))
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


def main(argv):
    if len(argv) >= 2 and argv[0] == "transform":
        transform(argv[1])
    elif len(argv) >= 2 and argv[0] == "schemas":
        schemas(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
