//go:build !unix

package cli

import "os"

// terminalWidth: outside Unix the tool does not size to the terminal and
// prints plain progress lines.
func terminalWidth(*os.File) int { return 0 }
