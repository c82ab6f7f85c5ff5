package pack

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The data files of SPEC 8, relative to data/ (DataDir). The three fixed
// files are in every pack; an agent's files exist when they have records.
const (
	AgentsPath    = "agents.ndjson"
	AnomaliesPath = "alerts/anomalies.ndjson"
	AuditPath     = "audit_log/audit_log.ndjson"
)

const (
	agentsDir     = "agents/"
	batchFileName = "batch.ndjson"
)

// RecordsPath is the file of an agent's records of one type:
// "agents/<agent_id>/<type>.ndjson".
func RecordsPath(agentID, recordType string) string {
	return agentsDir + agentID + "/" + recordType + ".ndjson"
}

// BatchPath is the file that lists the batches an agent's records came
// from: "agents/<agent_id>/batch.ndjson" (SPEC 9).
func BatchPath(agentID string) string { return agentsDir + agentID + "/" + batchFileName }

// BatchPathAgent says whether path is an agent's batch file (BatchPath),
// and whose.
func BatchPathAgent(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, agentsDir)
	if !ok {
		return "", false
	}
	agent, ok := strings.CutSuffix(rest, "/"+batchFileName)
	if !ok || agent == "" || strings.Contains(agent, "/") {
		return "", false
	}
	return agent, true
}

// CheckDataPath validates a data file path as Builder.Create expects it:
// relative to data/, '/'-separated, no empty, "." or ".." component, valid
// UTF-8 without control characters or backslashes, ending in ".ndjson", at
// most 240 bytes.
func CheckDataPath(p string) error {
	if len(p) == 0 || len(p) > 240 || !utf8.ValidString(p) || !strings.HasSuffix(p, ".ndjson") {
		return fmt.Errorf("%w: %q", ErrInvalidPath, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: %q", ErrInvalidPath, p)
		}
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidPath, p)
		}
	}
	return nil
}
