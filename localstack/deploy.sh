#!/usr/bin/env bash
# Deploy monsys hub to the LocalStack of docker-compose.yml and bootstrap it.
# Needs: samlocal (aws-sam-cli-local), awslocal (awscli-local), Go, make.
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
stack=monsys-hub
tenant=${MONSYS_TENANT:-demo}

samlocal build --config-env localstack
samlocal deploy --config-env localstack

out() { awslocal cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text; }
api=$(out ApiId)
url="http://${api}.execute-api.localhost.localstack.cloud:4566/live"

# The one-time bootstrap, as in AWS, against LocalStack's endpoints. The
# truststore bucket is addressed by path (http://localhost:4566/<bucket>/...):
# the SDK's default, <bucket>.localhost, does not resolve.
AWS_ENDPOINT_URL=http://localhost:4566 go run ./cmd/monsys-admin bootstrap \
  --ca-key "$(out HubCAKeyArn)" --table-prefix "$(out TablePrefix)" \
  --truststore-bucket "$(out TruststoreBucketName)" --s3-path-style --tenant "$tenant" \
  --url "$url" --out ".local/localstack/$tenant"

echo
echo "monsys hub on LocalStack: $url (no mutual TLS here; see localstack/README.md)"
echo "hub.json: .local/localstack/$tenant/hub.json"
