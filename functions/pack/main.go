// Command bootstrap is the pack Lambda function: the evidence-pack and
// pack-signing-key routes (api.Packs) from API Gateway proxy events, and the
// asynchronous builds it starts by invoking itself with InvocationType Event.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/monsys/hub/internal/app"
)

func main() {
	f, err := app.PackFunctionFromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
	lambda.Start(f.Handle)
}
