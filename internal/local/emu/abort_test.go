package emu_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/logtest"
)

// TestDynaliteSurvivesAbortedRequest: a client that gives up on a request
// while sending its body (a test whose context ends, a timeout) must not end
// dynalite for every other test of the binary. dynalite 4.0.0 throws such a
// request's "aborted" error, which ended the process.
func TestDynaliteSurvivesAbortedRequest(t *testing.T) {
	var out logtest.Buffer
	d, err := emu.StartDynalite(t.Context(), emu.DynaliteOptions{Log: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })

	conn, err := net.Dial("tcp", strings.TrimPrefix(d.Endpoint(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// "Expect: 100-continue" makes the server answer once it handed the
	// request to dynalite, so the abort comes while dynalite reads the body.
	if _, err := conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n" +
		"X-Amz-Target: DynamoDB_20120810.ListTables\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	status, err := textproto.NewReader(bufio.NewReader(conn)).ReadLine()
	if err != nil || !strings.Contains(status, " 100 ") {
		t.Fatalf("answer to Expect: 100-continue = %q, %v", status, err)
	}
	if _, err := conn.Write([]byte(`{"Lim`)); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()

	// dynalite says it dropped the request, or it exits.
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "aborted a request") {
		select {
		case <-d.Exited():
			t.Fatalf("dynalite exited after a client aborted a request: %v", d.Err())
		case <-deadline:
			t.Fatalf("dynalite neither exited nor said it dropped the aborted request; output:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	db, err := emu.DynamoClient(t.Context(), d.Endpoint(), emu.WithExitCause(d))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables() after an aborted request: %v", err)
	}
}

// TestDynaliteSurvivesCancelledCalls is the same through the SDK: calls whose
// context ends while they are sent. Without the guard, dynalite 4.0.0 died
// within 400 such calls in every try (see docs/emulators.md).
func TestDynaliteSurvivesCancelledCalls(t *testing.T) {
	d, err := emu.StartDynalite(t.Context(), emu.DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	db, err := emu.DynamoClient(t.Context(), d.Endpoint(), emu.WithExitCause(d))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 1000)
	for i := range 2000 {
		// From 0 to 1 ms: some calls end before they are sent, some while,
		// some after.
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%50)*20*time.Microsecond)
		_, _ = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("no-such-table"), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprint(i)}, "v": &types.AttributeValueMemberS{Value: body}}})
		cancel()
		if err := d.Err(); err != nil {
			t.Fatalf("dynalite exited after %d cancelled calls: %v", i+1, err)
		}
	}
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables() after 2000 cancelled calls: %v", err)
	}
}
