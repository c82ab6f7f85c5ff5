package app

import "io"

// SetOutput redirects the functions' log and EMF lines for a test and
// returns the function that restores them.
func SetOutput(w io.Writer) (restore func()) {
	old := output
	output = w
	return func() { output = old }
}
