package wire

// FunctionPermissions lists, per function (functions/<name>), the AWS actions
// that wire itself calls besides the adapters' (theirs are declared in
// internal/dynamo, internal/kmssign and internal/s3store): the pack function
// starts each build by invoking itself (LambdaStarter). template.yaml must
// allow them; a test in internal/deploy checks it.
var FunctionPermissions = map[string][]string{
	"pack": {"lambda:InvokeFunction"},
}
