#!/usr/bin/env bash
# LocalStack init hook (ready stage): what template.yaml cannot create on
# LocalStack, or needs before it is deployed.
#  - the bucket samlocal uploads the function code to (samconfig.toml,
#    [localstack.deploy.parameters] s3_bucket; resolve_s3 would need the SAM
#    managed stack);
#  - a check that the KMS key specs the hub relies on exist here: ECC_NIST_P256
#    for the hub CA (template), SYMMETRIC_DEFAULT for kms-envelope signing.
#    Ed25519 (ECC_NIST_EDWARDS25519) is not checked: LocalStack does not create
#    it, which is why the localstack environment uses kms-envelope.
set -euo pipefail

awslocal s3api head-bucket --bucket monsys-sam-artifacts 2>/dev/null ||
  awslocal s3 mb s3://monsys-sam-artifacts

for spec in ECC_NIST_P256:SIGN_VERIFY SYMMETRIC_DEFAULT:ENCRYPT_DECRYPT; do
  key=$(awslocal kms create-key --key-spec "${spec%%:*}" --key-usage "${spec##*:}" \
    --description "monsys ready.d probe" --query KeyMetadata.KeyId --output text)
  awslocal kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null
done

echo "monsys: LocalStack is ready (artifacts bucket monsys-sam-artifacts, KMS key specs checked)"
