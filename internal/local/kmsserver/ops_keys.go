package kmsserver

import (
	"regexp"
	"slices"
	"sort"
	"strings"
)

// keyMetadata is the KeyMetadata structure of the AWS KMS API.
type keyMetadata struct {
	AWSAccountId          string   `json:"AWSAccountId"`
	KeyId                 string   `json:"KeyId"`
	Arn                   string   `json:"Arn"`
	CreationDate          *epoch   `json:"CreationDate"`
	Enabled               bool     `json:"Enabled"`
	Description           string   `json:"Description"`
	KeyUsage              string   `json:"KeyUsage"`
	KeyState              string   `json:"KeyState"`
	Origin                string   `json:"Origin"`
	KeyManager            string   `json:"KeyManager"`
	CustomerMasterKeySpec string   `json:"CustomerMasterKeySpec"`
	KeySpec               string   `json:"KeySpec"`
	EncryptionAlgorithms  []string `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms     []string `json:"SigningAlgorithms,omitempty"`
	MultiRegion           bool     `json:"MultiRegion"`
}

func (s *Server) metadata(k key) *keyMetadata {
	info := specs[k.spec]
	return &keyMetadata{
		AWSAccountId:          s.account,
		KeyId:                 k.id,
		Arn:                   s.keyARN(k.id),
		CreationDate:          epochPtr(k.created),
		Enabled:               k.state == stateEnabled,
		Description:           k.description,
		KeyUsage:              k.usage,
		KeyState:              k.state,
		Origin:                "AWS_KMS",
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: k.spec,
		KeySpec:               k.spec,
		EncryptionAlgorithms:  info.encryption,
		SigningAlgorithms:     info.signing,
	}
}

type keyIDRequest struct {
	KeyId string
}

type createKeyRequest struct {
	KeySpec               string
	CustomerMasterKeySpec string
	KeyUsage              string
	Description           string
	Tags                  []tag
	Origin                string
	MultiRegion           bool
	CustomKeyStoreId      string
	XksKeyId              string
	Policy                string
	// BypassPolicyLockoutSafetyCheck is accepted and ignored: there are
	// no key policies here.
	BypassPolicyLockoutSafetyCheck bool
}

type keyMetadataResponse struct {
	KeyMetadata *keyMetadata
}

func (s *Server) createKey(body []byte) (any, error) {
	var req createKeyRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	spec := req.KeySpec
	if req.CustomerMasterKeySpec != "" {
		if spec != "" && spec != req.CustomerMasterKeySpec {
			return nil, fail(excValidation, "KeySpec %q and CustomerMasterKeySpec %q differ", spec, req.CustomerMasterKeySpec)
		}
		spec = req.CustomerMasterKeySpec
	}
	if spec == "" {
		spec = specSymmetric
	}
	usage := req.KeyUsage
	if usage == "" {
		usage = usageEncrypt // the AWS default
	}
	switch {
	case !slices.Contains(knownSpecs, spec):
		return nil, fail(excValidation, "KeySpec %q is not a valid key spec", spec)
	case !slices.Contains(knownUsages, usage):
		return nil, fail(excValidation, "KeyUsage %q is not a valid key usage", usage)
	case req.Origin != "" && req.Origin != "AWS_KMS":
		return nil, fail(excUnsupported, "Origin %q is not supported by local KMS", req.Origin)
	case req.MultiRegion:
		return nil, fail(excUnsupported, "multi-Region keys are not supported by local KMS")
	case req.CustomKeyStoreId != "" || req.XksKeyId != "":
		return nil, fail(excUnsupported, "custom key stores are not supported by local KMS")
	case len(req.Description) > 8192:
		return nil, fail(excValidation, "Description is longer than 8192 characters")
	case len(req.Policy) > 32768:
		return nil, fail(excValidation, "Policy is longer than 32768 characters")
	}
	info, implemented := specs[spec]
	switch {
	case implemented && info.usage == usage:
	case validCombination(spec, usage):
		return nil, fail(excUnsupported, "KeySpec %q with KeyUsage %q is not supported by local KMS", spec, usage)
	default:
		return nil, fail(excValidation, "KeyUsage %q is not compatible with KeySpec %q", usage, spec)
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	id, err := s.newUUID()
	if err != nil {
		return nil, err
	}
	k := key{
		id:          id,
		spec:        spec,
		usage:       usage,
		description: req.Description,
		created:     s.now().UTC(),
		state:       stateEnabled,
		tags:        slices.Clone(req.Tags),
	}
	if err := s.generate(&k); err != nil {
		return nil, err
	}
	return s.update(func(st *state) (any, error) {
		if _, dup := st.keys[k.id]; dup {
			return nil, fail(excAlreadyExists, "key id %q already exists", k.id)
		}
		st.keys[k.id] = k
		return &keyMetadataResponse{KeyMetadata: s.metadata(k)}, nil
	})
}

// validCombination reports whether AWS accepts a key spec with a key usage
// (CreateKey, KeyUsage parameter), implemented here or not.
func validCombination(spec, usage string) bool {
	switch {
	case spec == "SYMMETRIC_DEFAULT":
		return usage == "ENCRYPT_DECRYPT"
	case strings.HasPrefix(spec, "HMAC_"):
		return usage == "GENERATE_VERIFY_MAC"
	case strings.HasPrefix(spec, "RSA_"):
		return usage == "ENCRYPT_DECRYPT" || usage == "SIGN_VERIFY"
	case strings.HasPrefix(spec, "ECC_NIST_P"):
		return usage == "SIGN_VERIFY" || usage == "KEY_AGREEMENT"
	case spec == "ECC_SECG_P256K1", spec == "ECC_NIST_EDWARDS25519", strings.HasPrefix(spec, "ML_DSA_"):
		return usage == "SIGN_VERIFY"
	case strings.HasPrefix(spec, "ML_KEM_"):
		return usage == "ENCAPSULATE_DECAPSULATE"
	case spec == "SM2":
		return usage != "GENERATE_VERIFY_MAC" && usage != "ENCAPSULATE_DECAPSULATE"
	}
	return false
}

// checkTags applies the TagResource limits: 1-128 character keys, values
// of at most 256 characters, no duplicate keys, at most 50 tags.
func checkTags(tags []tag) error {
	if len(tags) > 50 {
		return fail(excTag, "at most 50 tags per key")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.TagKey == "" || len(t.TagKey) > 128:
			return fail(excTag, "TagKey %q must be 1 to 128 characters", t.TagKey)
		case len(t.TagValue) > 256:
			return fail(excTag, "TagValue for %q is longer than 256 characters", t.TagKey)
		case seen[t.TagKey]:
			return fail(excTag, "duplicate TagKey %q", t.TagKey)
		}
		seen[t.TagKey] = true
	}
	return nil
}

func (s *Server) describeKey(body []byte) (any, error) {
	return s.keyOp(body, true, false, func(_ *state, k key) (any, error) {
		return &keyMetadataResponse{KeyMetadata: s.metadata(k)}, nil
	})
}

// disableKey implements DisableKey: AWS accepts only a key id or key ARN,
// and it is idempotent.
func (s *Server) disableKey(body []byte) (any, error) {
	return s.keyOp(body, false, true, func(st *state, k key) (any, error) {
		k.state = stateDisabled
		st.keys[k.id] = k
		return emptyResponse{}, nil
	})
}

var aliasRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

// checkAliasName applies the CreateAlias rules: "alias/" followed by
// letters, digits, "/", "_" or "-", 256 characters at most, and not the
// "alias/aws/" prefix reserved for AWS managed keys.
func checkAliasName(name string) error {
	switch {
	case len(name) > 256 || !aliasRE.MatchString(name):
		return fail(excInvalidAlias, "alias name %q must be \"alias/\" followed by letters, digits, '/', '_' or '-' (256 characters at most)", name)
	case strings.HasPrefix(name, "alias/aws/"):
		return fail(excInvalidAlias, "alias name %q uses the reserved prefix \"alias/aws/\"", name)
	}
	return nil
}

type createAliasRequest struct {
	AliasName   string
	TargetKeyId string
}

func (s *Server) createAlias(body []byte) (any, error) {
	var req createAliasRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := checkAliasName(req.AliasName); err != nil {
		return nil, err
	}
	return s.update(func(st *state) (any, error) {
		k, err := s.resolve(st, req.TargetKeyId, false)
		if err != nil {
			return nil, err
		}
		if _, dup := st.aliases[req.AliasName]; dup {
			return nil, fail(excAlreadyExists, "An alias with the name %s already exists", s.aliasARN(req.AliasName))
		}
		now := s.now().UTC()
		st.aliases[req.AliasName] = alias{target: k.id, created: now, updated: now}
		return emptyResponse{}, nil
	})
}

type listKeysRequest struct {
	Limit  *int32
	Marker string
}

type keyListEntry struct {
	KeyId  string
	KeyArn string
}

type listKeysResponse struct {
	Keys       []keyListEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

// listKeys lists the keys in key-id order, paged with
// Limit (1 to 1000, default 100) and Marker, the last key id returned.
func (s *Server) listKeys(body []byte) (any, error) {
	var req listKeysRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	limit := 100
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 1000 {
			return nil, fail(excValidation, "Limit %d is outside 1 to 1000", *req.Limit)
		}
		limit = int(*req.Limit)
	}
	if req.Marker != "" && !uuidRE.MatchString(req.Marker) {
		return nil, fail(excInvalidMarker, "invalid marker %q", req.Marker)
	}
	return s.view(func(st *state) (any, error) {
		var ids []string
		for id := range st.keys {
			if id > req.Marker {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		out := &listKeysResponse{Keys: []keyListEntry{}}
		if len(ids) > limit {
			ids = ids[:limit]
			out.Truncated, out.NextMarker = true, ids[limit-1]
		}
		for _, id := range ids {
			out.Keys = append(out.Keys, keyListEntry{KeyId: id, KeyArn: s.keyARN(id)})
		}
		return out, nil
	})
}
