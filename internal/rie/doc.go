// Package rie checks the Lambda functions against the real runtime protocol:
// it builds every function's bootstrap the way deploy/Makefile builds it (for
// this machine's architecture), runs each under the AWS Lambda Runtime
// Interface Emulator with the environment template.yaml gives it, pointed at
// the test emulators, and holds its answers to the API Gateway and
// EventBridge event files to what the same handlers answer in-process over
// the same seeded state. It has only tests.
package rie
