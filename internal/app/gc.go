package app

import (
	"runtime/debug"
	"strconv"
)

// The garbage collector of a function serving API Gateway (issue 16). Go's
// default (GOGC=100) collects each time the heap doubles. An API function's
// live heap is a few MB (its clients, caches and one request) and an
// accepted batch allocates about a quarter of a MB, so it would collect
// every dozen or so batches, at about a third of the Lambda path's CPU
// (docs/dynamodb.md, "The garbage collector"). Lambda gives the function a
// fixed memory it bills whether it is used or not: the collector may use
// much more of it.
const (
	// lambdaGCPercent lets the heap grow to five times the live one.
	lambdaGCPercent = 400
	// lambdaMemoryShare is the part of the function's memory the Go heap
	// may reach before the collector works harder to stay under it (the
	// rest is the binary, the goroutine stacks and the runtime's own).
	lambdaMemoryShare = 0.75
)

// GCSettings is the collector tuning TuneGC applies.
type GCSettings struct {
	Percent    int   // debug.SetGCPercent
	LimitBytes int64 // debug.SetMemoryLimit
}

// LambdaGCSettings is the tuning for a Lambda function with the
// environment getenv: none (ok false) outside Lambda (no
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE, or not a positive number of MB), or when
// the operator set GOGC or GOMEMLIMIT in the function's environment (the
// Go runtime has applied them; they win).
func LambdaGCSettings(getenv func(string) string) (GCSettings, bool) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return GCSettings{}, false
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 || mb > 1<<20 {
		return GCSettings{}, false
	}
	return GCSettings{Percent: lambdaGCPercent, LimitBytes: int64(float64(mb<<20) * lambdaMemoryShare)}, true
}

// TuneGC applies LambdaGCSettings(getenv), if any, and returns a function
// that restores the collector's settings as they were.
func TuneGC(getenv func(string) string) (restore func()) {
	s, ok := LambdaGCSettings(getenv)
	if !ok {
		return func() {}
	}
	limit := debug.SetMemoryLimit(s.LimitBytes)
	percent := debug.SetGCPercent(s.Percent)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
