package kmssign

// Permission is one KMS action that a function's code path calls on one of the
// hub's keys. Key names the key's role: KeyCA (the hub CA, ECC_NIST_P256),
// KeyEnvelope (the symmetric key of kms-envelope pack signing), KeyPack (the
// tenants' Ed25519 pack-signing keys) or KeyLog (the log key). template.yaml must allow each of them to
// that function, in its IAM policy and in the key's policy; a test in
// internal/samtemplate checks it.
type Permission struct {
	Action string
	Key    string
}

// Key roles.
const (
	KeyCA       = "ca"
	KeyEnvelope = "envelope"
	KeyPack     = "pack"
	// KeyLog is the transparency log's Ed25519 key (ECC_NIST_EDWARDS25519),
	// which signs checkpoints (SPEC 10).
	KeyLog = "log"
)

// IAM action names of the operations a Signer or a vault calls.
const (
	ActSign         = "kms:Sign"
	ActGetPublicKey = "kms:GetPublicKey"
	ActCreateKey    = "kms:CreateKey"
	ActEncrypt      = "kms:Encrypt"
	ActDecrypt      = "kms:Decrypt"
)

// FunctionPermissions lists, per function (functions/<name>), the KMS actions
// its code path calls through this package. Only register issues certificates
// (app.LazySigner builds the CA Signer on first use, so the other functions
// never reach KMS for the CA).
//
// pack holds the tenants' pack-signing keys (vault.go): in kms mode it
// creates an Ed25519 key per tenant key and signs with it (CreateKey is
// allowed by its IAM role; GetPublicKey and Sign by the key policy it sets,
// PackKeyPolicy, and by nothing else); in kms-envelope mode it encrypts and
// decrypts seeds under the envelope key. The template allows both, so that
// the mode is a parameter.
var FunctionPermissions = map[string][]Permission{
	"register": {{ActGetPublicKey, KeyCA}, {ActSign, KeyCA}},
	// integrity signs the log's checkpoints: with the KMS log key, or in
	// kms-envelope mode with the seed it unseals (EnvelopeLogSigner).
	"integrity": {{ActGetPublicKey, KeyLog}, {ActSign, KeyLog}, {ActDecrypt, KeyEnvelope}},
	"pack": {
		{ActCreateKey, KeyPack}, {ActGetPublicKey, KeyPack}, {ActSign, KeyPack},
		{ActEncrypt, KeyEnvelope}, {ActDecrypt, KeyEnvelope},
		// with witnesses, packs are integrated and proved: checkpoints signed
		{ActGetPublicKey, KeyLog}, {ActSign, KeyLog},
	},
}

// BootstrapPermissions are the KMS actions of the one-time bootstrap
// (cmd/monsys-admin): it self-signs the CA certificate and issues the tenant's
// enrollment and operator certificates with the CA key.
// With --log-key it reads the log key's public key to print its verifier key.
var BootstrapPermissions = []Permission{{ActGetPublicKey, KeyCA}, {ActSign, KeyCA}, {ActGetPublicKey, KeyLog}}
