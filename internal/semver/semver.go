// Package semver compares agent versions (Semantic Versioning 2.0.0 precedence),
// which is what the version_downgrade check of SPEC 4.2 needs.
package semver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid means a string is not a semantic version.
var ErrInvalid = errors.New("invalid semantic version")

// Version is a parsed semantic version. Build metadata is ignored for precedence.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string
}

// Parse reads "1.4.2", "v1.4.2", "1.4.2-rc.1+build.5". A leading "v" is accepted
// because agents report what their build stamped.
func Parse(s string) (Version, error) {
	in := s
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if !validIdents(s[i+1:], false) {
			return Version{}, fmt.Errorf("%w: %q: bad build metadata", ErrInvalid, in)
		}
		s = s[:i]
	}
	var pre []string
	if i := strings.IndexByte(s, '-'); i >= 0 {
		if !validIdents(s[i+1:], true) {
			return Version{}, fmt.Errorf("%w: %q: bad pre-release", ErrInvalid, in)
		}
		pre = strings.Split(s[i+1:], ".")
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("%w: %q: want MAJOR.MINOR.PATCH", ErrInvalid, in)
	}
	var n [3]uint64
	for i, p := range parts {
		if !numeric(p) || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("%w: %q: bad number %q", ErrInvalid, in, p)
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("%w: %q: %v", ErrInvalid, in, err)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && numeric(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b.
func Compare(a, b Version) int {
	for _, d := range [][2]uint64{{a.Major, b.Major}, {a.Minor, b.Minor}, {a.Patch, b.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.Pre) == 0 && len(b.Pre) == 0:
		return 0
	case len(a.Pre) == 0:
		return 1
	case len(b.Pre) == 0:
		return -1
	}
	for i := 0; i < len(a.Pre) && i < len(b.Pre); i++ {
		if c := compareIdent(a.Pre[i], b.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.Pre) < len(b.Pre):
		return -1
	case len(a.Pre) > len(b.Pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, bn := numeric(a), numeric(b)
	switch {
	case an && bn:
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// Less reports whether version string a is lower than b. Either side that does
// not parse makes the comparison false: an unparsable version is not evidence
// of a downgrade, and the caller records it separately if it cares.
func Less(a, b string) bool {
	va, err := Parse(a)
	if err != nil {
		return false
	}
	vb, err := Parse(b)
	if err != nil {
		return false
	}
	return Compare(va, vb) < 0
}

// Max returns the higher of two version strings; a string that does not parse
// loses to one that does.
func Max(a, b string) string {
	va, errA := Parse(a)
	vb, errB := Parse(b)
	switch {
	case errA != nil && errB != nil:
		return a
	case errA != nil:
		return b
	case errB != nil:
		return a
	case Compare(va, vb) < 0:
		return b
	}
	return a
}
