// Command monsys-verify checks a monsys evidence pack offline, with the same
// arguments, output and exit codes as the verify.py inside every pack:
//
//	monsys-verify PACK.tar.gz [--expect-fingerprint FP] [--deep] [--log-key VKEY] [--witness-key VKEY]... [--witness-quorum N] [--json]
//	monsys-verify DIRECTORY   [...]
//
// Exit status 0: every check holds; 1: a check fails; 2: usage error or
// input that cannot be read.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/monsys/hub/internal/verify"
)

const usage = "usage: monsys-verify PACK.tar.gz|DIRECTORY [--expect-fingerprint FP] [--deep] [--log-key VKEY] [--witness-key VKEY]... [--witness-quorum N] [--json]\n"

// exitError carries the process exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

var errFailed = errors.New("verification failed")

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		code := 2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errFailed) {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		os.Exit(code)
	}
}

type args struct {
	target      string
	expected    string
	expectedSet bool
	json        bool
	deep        bool
	help        bool
	logKey      string
	logKeySet   bool
	witnesses   []string
	quorum      int // 0: all given witnesses
}

// value reads the value of the option opt at argv[*i], given as
// "--opt VALUE" (advancing *i) or "--opt=VALUE".
func value(argv []string, i *int, opt string) (string, error) {
	if v, ok := strings.CutPrefix(argv[*i], opt+"="); ok {
		return v, nil
	}
	if *i+1 >= len(argv) {
		return "", fmt.Errorf("%s: expected one argument", opt)
	}
	*i++
	return argv[*i], nil
}

func parseArgs(argv []string) (args, error) {
	var a args
	var positional []string
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		switch {
		case s == "--":
			positional = append(positional, argv[i+1:]...)
			i = len(argv)
		case s == "-h" || s == "--help":
			a.help = true
		case s == "--json":
			a.json = true
		case s == "--deep":
			a.deep = true
		case s == "--expect-fingerprint":
			if i+1 >= len(argv) {
				return a, errors.New("--expect-fingerprint: expected one argument")
			}
			i++
			a.expected, a.expectedSet = argv[i], true
		case strings.HasPrefix(s, "--expect-fingerprint="):
			a.expected, a.expectedSet = strings.TrimPrefix(s, "--expect-fingerprint="), true
		case s == "--log-key" || strings.HasPrefix(s, "--log-key="):
			v, err := value(argv, &i, "--log-key")
			if err != nil {
				return a, err
			}
			a.logKey, a.logKeySet = v, true
		case s == "--witness-key" || strings.HasPrefix(s, "--witness-key="):
			v, err := value(argv, &i, "--witness-key")
			if err != nil {
				return a, err
			}
			a.witnesses = append(a.witnesses, v)
		case s == "--witness-quorum" || strings.HasPrefix(s, "--witness-quorum="):
			v, err := value(argv, &i, "--witness-quorum")
			if err != nil {
				return a, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return a, fmt.Errorf("--witness-quorum: expected a positive integer, got %q", v)
			}
			a.quorum = n
		case len(s) > 1 && strings.HasPrefix(s, "-"):
			return a, fmt.Errorf("unrecognized argument %q", s)
		default:
			positional = append(positional, s)
		}
	}
	if a.help {
		return a, nil
	}
	if len(positional) != 1 {
		return a, errors.New("expected exactly one PACK.tar.gz or DIRECTORY")
	}
	if !a.logKeySet && (len(a.witnesses) > 0 || a.quorum > 0) {
		return a, errors.New("--witness-key and --witness-quorum need --log-key")
	}
	a.target = positional[0]
	return a, nil
}

func run(argv []string, stdout, stderr io.Writer) error {
	a, err := parseArgs(argv)
	if err == nil && a.expectedSet {
		_, err = verify.NormalizeFingerprint(a.expected)
	}
	var keys *verify.TransparencyKeys
	if err == nil && a.logKeySet {
		keys, err = verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: a.logKey, WitnessKeys: a.witnesses, Quorum: a.quorum})
	}
	if err != nil {
		io.WriteString(stderr, usage)
		return &exitError{code: 2, err: err}
	}
	if a.help {
		io.WriteString(stdout, usage)
		return nil
	}
	rep, err := verify.VerifyPath(a.target, verify.Options{ExpectFingerprint: a.expected, Deep: a.deep, Transparency: keys})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if a.json {
		b, err := rep.JSON()
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if _, err := stdout.Write(b); err != nil {
			return &exitError{code: 2, err: err}
		}
	} else if _, err := io.WriteString(stdout, rep.Text()); err != nil {
		return &exitError{code: 2, err: err}
	}
	if !rep.OK {
		return &exitError{code: 1, err: errFailed}
	}
	return nil
}
