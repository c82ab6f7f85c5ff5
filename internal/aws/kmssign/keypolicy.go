package kmssign

import (
	"encoding/json"
	"fmt"
	"strings"
)

// KeyAdminActions are what the account may do with every key of the hub,
// through its IAM policies: administer it, never use it. They are the calls
// of CloudFormation's AWS::KMS::Key and AWS::KMS::Alias handlers (create,
// read, update, delete) that name a key, and CancelKeyDeletion. The key
// policies of template.yaml grant the same list (internal/samtemplate checks both).
var KeyAdminActions = []string{
	"kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ListResourceTags", "kms:TagResource",
	"kms:UntagResource", "kms:UpdateKeyDescription", "kms:EnableKey", "kms:DisableKey", "kms:EnableKeyRotation",
	"kms:DisableKeyRotation", "kms:GetKeyRotationStatus", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
	"kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
}

// PackKeyPolicy is the key policy a tenant's pack-signing key gets at
// CreateKey (kms mode): the account administers it (KeyAdminActions) and
// signer, the pack function's role, alone signs with it (pure Ed25519) and
// reads its public key. No IAM policy can add a use: the account is not
// granted one. signer is an IAM role or user ARN; the account and partition
// come from it.
func PackKeyPolicy(signer string) (string, error) {
	parts := strings.SplitN(signer, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "iam" || len(parts[4]) != 12 ||
		!(strings.HasPrefix(parts[5], "role/") || strings.HasPrefix(parts[5], "user/")) {
		return "", fmt.Errorf("%w: signer %q is not an IAM role or user ARN", ErrVault, signer)
	}
	root := "arn:" + parts[1] + ":iam::" + parts[4] + ":root"
	type principal struct {
		AWS string `json:"AWS"`
	}
	type statement struct {
		Sid       string         `json:"Sid"`
		Effect    string         `json:"Effect"`
		Principal principal      `json:"Principal"`
		Action    []string       `json:"Action"`
		Resource  string         `json:"Resource"`
		Condition map[string]any `json:"Condition,omitempty"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: "2012-10-17", Statement: []statement{
		{Sid: "KeyAdministration", Effect: "Allow", Principal: principal{root}, Action: KeyAdminActions, Resource: "*"},
		{Sid: "PackFunctionReadsPublicKey", Effect: "Allow", Principal: principal{signer}, Action: []string{ActGetPublicKey}, Resource: "*"},
		{Sid: "PackFunctionSigns", Effect: "Allow", Principal: principal{signer}, Action: []string{ActSign}, Resource: "*",
			Condition: map[string]any{"StringEquals": map[string]string{"kms:SigningAlgorithm": "ED25519_SHA_512", "kms:MessageType": "RAW"}}},
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
