// Package e2e drives the local hub over real mutual TLS against dynalite:
// every row of SPEC 4.1 and 4.2, the races, the theft scenarios of the seed,
// cross-tenant isolation, bad input and backend faults. It has only tests.
package e2e
