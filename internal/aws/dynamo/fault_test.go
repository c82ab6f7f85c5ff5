package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/monsys/hub/internal/aws/dynamo"
)

// verdict is what faultAPI does with one write.
type verdict int

const (
	pass       verdict = iota
	failBefore         // the write reaches nothing and fails with errBackend; the process goes on
	failAfter          // the write is applied, then fails with errBackend (its answer was lost)
	crash              // the process dies: this write and every later call reach nothing
)

// errBackend is what DynamoDB's client returns when the connection breaks:
// the store classifies it as unavailable.
var errBackend = &smithyhttp.RequestSendError{Err: errors.New("injected fault: connection reset")}

// errCrashed is every call's error once the process is gone; nobody sees it.
var errCrashed = errors.New("injected crash: the process is gone")

// faultAPI is the store tests' DynamoDB client with fault injection: it
// counts the agent items calls return, numbers the writes (PutItem,
// UpdateItem, DeleteItem) from 1 and asks its fault function what to do with
// each. After a crash every call fails at once, as for a process that died:
// the code that called it can run no undo.
type faultAPI struct {
	dynamo.API
	agents     string // the table whose items agentReads counts
	agentReads atomic.Int64
	writes     atomic.Int64
	crashed    atomic.Bool

	mu    sync.Mutex
	fault func(n int64, op string) verdict
	trace []string
}

// setFault sets the function that decides the fate of write n (op names the
// call and its table); nil passes every write.
func (f *faultAPI) setFault(fn func(n int64, op string) verdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

// crashAfter lets n writes through; the process dies on the next one.
func crashAfter(n int64) func(int64, string) verdict {
	return func(i int64, _ string) verdict {
		if i > n {
			return crash
		}
		return pass
	}
}

// failWrite makes write n fail, before or after it is applied (v).
func failWrite(n int64, v verdict) func(int64, string) verdict {
	return func(i int64, _ string) verdict {
		if i == n {
			return v
		}
		return pass
	}
}

// Trace lists the writes seen so far, numbered, with their fate.
func (f *faultAPI) Trace() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.trace, "\n")
}

// write runs one write through the fault function.
func (f *faultAPI) write(op, table string, do func() error) error {
	if f.crashed.Load() {
		return errCrashed
	}
	n := f.writes.Add(1)
	f.mu.Lock()
	v := pass
	if f.fault != nil {
		v = f.fault(n, op+" "+table)
	}
	f.trace = append(f.trace, fmt.Sprintf("%d %s %s: %s", n, op, table, [...]string{"ok", "failed before", "failed after", "crash"}[v]))
	f.mu.Unlock()
	switch v {
	case crash:
		f.crashed.Store(true)
		return errCrashed
	case failBefore:
		return fmt.Errorf("%s: %w", op, errBackend)
	}
	if err := do(); err != nil {
		return err
	}
	if v == failAfter {
		return fmt.Errorf("%s: %w", op, errBackend)
	}
	return nil
}

func (f *faultAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if f.crashed.Load() {
		return nil, errCrashed
	}
	out, err := f.API.GetItem(ctx, in, o...)
	if err == nil && aws.ToString(in.TableName) == f.agents && out.Item != nil {
		f.agentReads.Add(1)
	}
	return out, err
}

func (f *faultAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if f.crashed.Load() {
		return nil, errCrashed
	}
	out, err := f.API.Query(ctx, in, o...)
	if err == nil && aws.ToString(in.TableName) == f.agents {
		f.agentReads.Add(int64(len(out.Items)))
	}
	return out, err
}

func (f *faultAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.PutItemOutput, err error) {
	err = f.write("PutItem", aws.ToString(in.TableName), func() (err error) {
		out, err = f.API.PutItem(ctx, in, o...)
		return err
	})
	return out, err
}

func (f *faultAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	err = f.write("UpdateItem", aws.ToString(in.TableName), func() (err error) {
		out, err = f.API.UpdateItem(ctx, in, o...)
		return err
	})
	return out, err
}

func (f *faultAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.DeleteItemOutput, err error) {
	err = f.write("DeleteItem", aws.ToString(in.TableName), func() (err error) {
		out, err = f.API.DeleteItem(ctx, in, o...)
		return err
	})
	return out, err
}
