// Command bootstrap is the admin Lambda function: it serves the api.Admin routes
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
	h, err := app.Handler(context.Background(), os.Getenv, api.Admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
