package ddb

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// The decoders read the JSON body of a 200 answer into the operation's
// output, as the SDK's deserializer would: every member the SDK reads,
// unknown members skipped, the same values. ResultMetadata is left for
// the client. body is not retained by the output (strings and byte slices
// are copies).

func decodeGetItem(body []byte) (*dynamodb.GetItemOutput, error)       { return nil, errTODO }
func decodePutItem(body []byte) (*dynamodb.PutItemOutput, error)       { return nil, errTODO }
func decodeUpdateItem(body []byte) (*dynamodb.UpdateItemOutput, error) { return nil, errTODO }
func decodeDeleteItem(body []byte) (*dynamodb.DeleteItemOutput, error) { return nil, errTODO }
func decodeQuery(body []byte) (*dynamodb.QueryOutput, error)           { return nil, errTODO }
func decodeScan(body []byte) (*dynamodb.ScanOutput, error)             { return nil, errTODO }

// decodeError is the API error of an answer that is not a 2xx, as the
// SDK's deserializer of operation op ("GetItem", ...) makes it: the error
// code from the body's __type (or the X-Amzn-ErrorType header) with the
// SDK's sanitizing, the message from message or Message, and, for the codes
// the operation models, the SDK's typed error (e.g.
// *types.ConditionalCheckFailedException with its Item); any other code is
// a *smithy.GenericAPIError. The client wraps it in the same
// *smithy.OperationError / *awshttp.ResponseError chain the SDK does.
func decodeError(op string, status int, header http.Header, body []byte) error { return errTODO }
