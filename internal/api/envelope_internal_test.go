package api

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
)

// TestJSONResponseFallback: an answer that cannot be encoded becomes the
// SPEC 4 internal error, and that envelope carries its request_id too.
func TestJSONResponseFallback(t *testing.T) {
	resp := jsonResponse("rq-1", http.StatusOK, map[string]float64{"x": math.NaN()}, nil)
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &env); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || env.Error.Code != "internal" || env.RequestID != "rq-1" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}
