// Command bootstrap is the integrity Lambda function, run by an EventBridge
// schedule every 10 minutes (SPEC 4.4). The event's content is not used.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/monsys/hub/internal/app"
)

func main() {
	run, err := app.Integrity(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integrity:", err)
		os.Exit(1)
	}
	lambda.Start(run)
}
