// Package batchtest makes the realistic batch bodies that the benchmarks and
// the request-unit measurements of ingest share.
package batchtest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// Records is the number of records after the header in Body.
const Records = 100

// Body is a signed batch of seq: the header and Records records of the kinds
// an agent sends, about 10 KiB, on the day of day (YYYY-MM-DD).
func Body(seq int64, day string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `[{"type":"batch","ts":"%sT10:00:00Z","seq":%d,"agent_version":"1.4.2"}`, day, seq)
	for i := range Records {
		ts := fmt.Sprintf("%sT10:%02d:%02d.%03dZ", day, i/60, i%60, i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, `,{"type":"metric","ts":%q,"name":"cpu.user","value":%d.25,"tags":{"core":"%d"}}`, ts, i, i%8)
		case 1:
			fmt.Fprintf(&b, `,{"type":"metric","ts":%q,"name":"mem.used_bytes","value":%d}`, ts, 1<<30+i)
		case 2:
			h := sha256.Sum256([]byte{byte(i)})
			fmt.Fprintf(&b, `,{"type":"process_dna","ts":%q,"pid":%d,"exe":"/usr/sbin/nginx","sha256":"%x"}`, ts, 1000+i, h[:12])
		case 3:
			fmt.Fprintf(&b, `,{"type":"agent_status","ts":%q,"spool_depth":%d,"uptime_s":%d,"ok":true}`, ts, i, 86400+i)
		}
	}
	b.WriteByte(']')
	return b.Bytes()
}
