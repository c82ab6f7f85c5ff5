package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aws/smithy-go"

	"github.com/monsys/hub/internal/hub"
)

type item = map[string]types.AttributeValue

func vs(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func vn(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func vb(b []byte) types.AttributeValue  { return &types.AttributeValueMemberB{Value: b} }
func vbool(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }
func vt(t time.Time) types.AttributeValue {
	return vs(t.UTC().Format(timeLayout))
}

// timeLayout is fixed-width, so that strings sort as times do.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func gs(it item, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func gn(it item, k string) int64 {
	if v, ok := it[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func gb(it item, k string) []byte {
	if v, ok := it[k].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func gbool(it item, k string) bool {
	if v, ok := it[k].(*types.AttributeValueMemberBOOL); ok {
		return v.Value
	}
	return false
}

func gt(it item, k string) time.Time {
	s := gs(it, k)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func gm(it item, k string) item {
	if v, ok := it[k].(*types.AttributeValueMemberM); ok {
		return v.Value
	}
	return nil
}

func names(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// classify maps SDK errors onto the hub's store errors, keeping the cause.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s: %w", op, hub.ErrConflict)
	}
	var pte *types.ProvisionedThroughputExceededException
	var rle *types.RequestLimitExceeded
	if errors.As(err, &pte) || errors.As(err, &rle) {
		return fmt.Errorf("%s: %w: %w", op, hub.ErrThrottled, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException":
			return fmt.Errorf("%s: %w: %w", op, hub.ErrThrottled, err)
		case "InternalServerError", "ServiceUnavailable", "InternalFailure":
			return fmt.Errorf("%s: %w: %w", op, hub.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var send *smithyhttp.RequestSendError
	var resp *smithyhttp.ResponseError
	if errors.As(err, &send) || (errors.As(err, &resp) && resp.HTTPStatusCode() >= 500) {
		return fmt.Errorf("%s: %w: %w", op, hub.ErrUnavailable, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", op, hub.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
