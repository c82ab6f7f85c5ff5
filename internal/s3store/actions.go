package s3store

// FunctionPermissions lists, per function (functions/<name>), the S3 actions
// its code path calls on the packs bucket's objects: the multipart upload
// (CreateMultipartUpload, UploadPart and CompleteMultipartUpload are
// s3:PutObject; the Object Lock retain-until date needs
// s3:PutObjectRetention), its abort, and the GET that presigned links are
// signed for. template.yaml must allow them; a test in internal/deploy checks it.
var FunctionPermissions = map[string][]string{
	"pack": {"s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload", "s3:GetObject", "s3:GetObjectVersion"},
}

// KMSViaS3 are the KMS actions S3 performs with the caller's credentials on
// the bucket's SSE-KMS key when those calls run: encrypt the upload, decrypt
// its parts and the presigned download.
var KMSViaS3 = []string{"kms:GenerateDataKey", "kms:Decrypt"}
