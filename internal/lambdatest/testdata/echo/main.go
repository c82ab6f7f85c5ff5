// Command echo is a Lambda function for the coldstart tests: it returns its
// event unchanged, fails the invocation when the event is {"fail":"..."},
// and exits during init when ECHO_EXIT_IN_INIT=1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("ECHO_EXIT_IN_INIT") == "1" {
		fmt.Fprintln(os.Stderr, "echo: exiting during init as asked")
		os.Exit(3)
	}
	lambda.Start(handle)
}

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	var probe struct {
		Fail string `json:"fail"`
	}
	if json.Unmarshal(event, &probe) == nil && probe.Fail != "" {
		return nil, errors.New(probe.Fail)
	}
	return event, nil
}
