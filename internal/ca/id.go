package ca

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"unicode"
)

// maxCommonName is the upper bound of X.520 ub-common-name.
const maxCommonName = 64

var (
	tenantRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	agentRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	dnsNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// ValidTenantID reports whether s is a tenant id: ^[a-z0-9][a-z0-9-]{0,62}$.
func ValidTenantID(s string) bool { return tenantRE.MatchString(s) }

// ValidAgentID reports whether s is an agent id: ^[A-Za-z0-9_-]{1,64}$.
func ValidAgentID(s string) bool { return agentRE.MatchString(s) }

func checkTenant(tenant string) error {
	if !ValidTenantID(tenant) {
		return fmt.Errorf("%w: tenant id %q: want [a-z0-9][a-z0-9-]{0,62}", ErrBadID, tenant)
	}
	return nil
}

// validCommonName accepts 1 to 64 printable characters.
func validCommonName(s string) bool {
	if s == "" || len(s) > maxCommonName {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// splitHosts sorts server hosts into DNS names (lowercase LDH labels, at
// most 253 characters) and IP addresses, rejecting anything else and
// duplicates.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("%w: no hosts", ErrBadID)
	}
	var dns []string
	var ips []net.IP
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			return nil, nil, fmt.Errorf("%w: host %q listed twice", ErrBadID, h)
		}
		seen[h] = true
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Zone() != "" {
				return nil, nil, fmt.Errorf("%w: host %q: IP address with a zone", ErrBadID, h)
			}
			ips = append(ips, net.IP(ip.AsSlice()))
			continue
		}
		if len(h) > 253 || !dnsNameRE.MatchString(h) {
			return nil, nil, fmt.Errorf("%w: host %q: want a lowercase DNS name or an IP address", ErrBadID, h)
		}
		dns = append(dns, h)
	}
	return dns, ips, nil
}
