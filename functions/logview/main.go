// Command logview is the transparency log's Lambda function: it serves the
// api.Log routes (GET /log/checkpoint, /log/tile/..., /log/entries/...,
// SPEC 4 and 10) from API Gateway proxy events, reading the log's bucket.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/monsys/hub/internal/app"
)

func main() {
	h, err := app.LogViewHandler(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "logview:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
