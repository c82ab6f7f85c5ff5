//go:build !unix

package verify_test

import "errors"

func mkfifo(string) error { return errors.New("not supported") }
