package app

// FunctionPermissions lists, per function (functions/<name>), the AWS actions
// that wire itself calls besides the adapters' (theirs are declared in
// internal/aws/dynamo, internal/aws/kmssign and internal/aws/s3store): the pack function
// starts each build by invoking itself (LambdaStarter) and signs presigned
// links as the link role (LinkRoleCredentials). template.yaml must allow
// them, lambda:InvokeFunction on the function itself and sts:AssumeRole on
// the role MONSYS_PACK_LINK_ROLE_ARN names; a test in internal/samtemplate checks it.
var FunctionPermissions = map[string][]string{
	"pack": {"lambda:InvokeFunction", "sts:AssumeRole"},
}
