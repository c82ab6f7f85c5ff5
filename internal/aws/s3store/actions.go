package s3store

// FunctionPermissions lists, per function (functions/<name>), the S3 actions
// its code path calls on the packs bucket's objects: the multipart upload
// (CreateMultipartUpload, UploadPart and CompleteMultipartUpload are
// s3:PutObject; the Object Lock retain-until date needs
// s3:PutObjectRetention) and its abort. template.yaml must allow them; a
// test in internal/samtemplate checks it.
var FunctionPermissions = map[string][]string{
	"pack": {"s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"},
}

// KMSViaS3 are the KMS actions S3 performs with the caller's credentials on
// the bucket's SSE-KMS key when those calls run: encrypt the upload and
// decrypt its parts.
var KMSViaS3 = []string{"kms:GenerateDataKey", "kms:Decrypt"}

// LinkPermissions are what the credentials presigned links are signed with
// (Config.LinkCredentials: the pack-link role) must allow on the packs
// bucket's objects: the GET of one object version. LinkKMSViaS3 is what S3
// then does with them on the bucket's key.
var (
	LinkPermissions = []string{"s3:GetObject", "s3:GetObjectVersion"}
	LinkKMSViaS3    = []string{"kms:Decrypt"}
)

// LogFunctionPermissions lists, per function, the S3 actions its code path
// calls on the transparency log bucket's objects (Tiles). template.yaml
// must allow them there; a test in internal/samtemplate checks it.
var LogFunctionPermissions = map[string][]string{
	"integrity": TilesPermissions,
	"pack":      TilesPermissions, // a pack is integrated and proved before it is ready
	"logview":   TilesReadPermissions,
}

// TilesReadPermissions are the S3 actions of a function that only reads
// the log (GET /log/...), on the log bucket's objects.
var TilesReadPermissions = []string{"s3:GetObject"}

// LogBucketPermissions lists, per function, the S3 actions on the log
// bucket itself: s3:ListBucket, without which S3 answers the GET of an
// object not written yet (a tile, the first checkpoint) 403 instead of 404,
// and Tiles could not tell tlog.ErrNotFound from a refusal.
var LogBucketPermissions = map[string][]string{
	"integrity": {"s3:ListBucket"}, // the first checkpoint: none stored yet
	"pack":      {"s3:ListBucket"},
	"logview":   {"s3:ListBucket"},
}
