// Command bootstrap is the register Lambda function: it serves the api.Register routes
// from API Gateway proxy events.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
)

func main() {
	h, err := app.SubmittingHandler(context.Background(), os.Getenv, api.Register)
	if err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
