package verify

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/sig"
)

// The provenance checks of SPEC 9 (--deep): every batch line's bytes and
// signature under the agent's key of its time, the records of the bodies
// against the lines of the agent's record files, and each agent's chain.
// verify.py's check_provenance prints the same lines (docs/evidence-pack.md,
// "Provenance").

// deepBatch is what the checks keep of one batch.ndjson line: never its
// body, only the digests and fields they need. A worker fills it (see
// deepScan.batchLine); the reader reads it once the workers are done.
type deepBatch struct {
	agent, path string
	line        int64
	key         string
	seq         int64 // 0 when the line has none
	prev        string
	receivedAt  time.Time
	sha         string // of the body, computed
	signature   string
	fingerprint string
	signed      bool
	quarantined bool
	inPeriod    int64  // records_in_period as the line says
	counted     int64  // records of the body in the period
	bad         string // why the line itself fails, "" when it holds
	recs        []bodyRecord
	// sigChecked says that sigProblem holds the signature check (rule 1),
	// made by the worker when the key history was read before the line.
	sigChecked bool
	sigProblem string
}

// deepRecord counts one canonical record of an agent's record file: +1
// for each line of the file, -1 for each record of a body; the first line
// and the first body record that had it name it. 32 bytes, with no
// allocation of its own: a million records are a million of these.
type deepRecord struct {
	n     int64
	line  int64      // the first line of the file that had it, 0 when none
	batch *deepBatch // the first batch whose body had it, nil when none
	file  int32      // its key's file
	index int32      // the record's index in that body
}

// recordKey is a record file (an index in deepScan.files) and the SHA-256
// of a canonical record.
type recordKey struct {
	file int32
	sum  [sha256.Size]byte
}

// bodyRecord is one record of a body, counted once the period is known
// (the manifest may come after the data files); its batch names its agent.
type bodyRecord struct {
	index int
	path  string
	ts    time.Time
	sum   [sha256.Size]byte
}

// deepScan collects, as the data files stream by, what CheckProvenance
// needs. The batch lines, the bulk of the work (base64, SHA-256, the
// records' canonical form, the signature), are read by worker goroutines;
// everything else in the reader's order.
type deepScan struct {
	batches []*deepBatch
	recs    map[recordKey]int // index in entries
	entries []deepRecord      // in first-seen order, for stable output
	files   []string          // the record files' paths, by recordKey.file
	fileIDs map[string]int32
	agents  []byte // agents.ndjson
	tooBig  bool
	// The key history, once agents.ndjson has been read (keysRead).
	keys     map[string]map[string]deepKey
	keysOK   bool
	keysRead bool

	jobs chan deepJob
	wg   sync.WaitGroup
}

// deepJob is one batch line for a worker: its bytes (the worker's own
// copy) and the key history as far as it was read.
type deepJob struct {
	b    *deepBatch
	line []byte
	keys map[string]map[string]deepKey // nil: not read yet
}

// maxAgentsFile bounds the agents.ndjson the deep checks keep in memory.
const maxAgentsFile = 64 << 20

func newDeepScan() *deepScan {
	return &deepScan{recs: map[recordKey]int{}, fileIDs: map[string]int32{}}
}

// fileID is the index of the record file at path in d.files.
func (d *deepScan) fileID(path string) int32 {
	id, ok := d.fileIDs[path]
	if !ok {
		id = int32(len(d.files))
		d.files = append(d.files, path)
		d.fileIDs[path] = id
	}
	return id
}

// lines is the line reader for the data file at path, or nil when the deep
// checks do not read it.
func (d *deepScan) lines(path string) func(n int64, line []byte, long bool) {
	if path == pack.AgentsPath {
		return func(_ int64, line []byte, long bool) {
			if long || len(d.agents)+len(line) > maxAgentsFile {
				d.tooBig = true
				return
			}
			d.agents = append(append(d.agents, line...), '\n')
		}
	}
	if agent, ok := pack.BatchPathAgent(path); ok {
		return func(n int64, line []byte, long bool) { d.batchLine(agent, path, n, line, long) }
	}
	rest, ok := strings.CutPrefix(path, "agents/")
	if !ok || strings.Count(rest, "/") != 1 {
		return nil
	}
	file := d.fileID(path)
	return func(n int64, line []byte, long bool) {
		k := recordKey{file: file}
		if long {
			// Never a record of a body (a body is at most batch.MaxBytes):
			// counted by its line number, so it is reported.
			k.sum = sha256.Sum256([]byte("long line " + strconv.FormatInt(n, 10)))
		} else {
			k.sum = sha256.Sum256(line)
		}
		d.count(k, 1, n, nil, 0)
	}
}

// fileDone is told that the data file at path has been read: once
// agents.ndjson is, the workers check signatures as they go.
func (d *deepScan) fileDone(path string) {
	if path == pack.AgentsPath && !d.keysRead {
		d.readKeys()
	}
}

// readKeys reads the key history from agents.ndjson as far as it was read.
func (d *deepScan) readKeys() {
	d.keys, d.keysOK = keyHistory(d.agents)
	if !d.keysOK || d.tooBig {
		d.keys, d.keysOK = map[string]map[string]deepKey{}, false
	}
	d.keysRead = true
}

// count adds by to k's count; line (from 1), or batch and index, say where
// it was seen.
func (d *deepScan) count(k recordKey, by int64, line int64, batch *deepBatch, index int) {
	i, ok := d.recs[k]
	if !ok {
		i = len(d.entries)
		d.recs[k] = i
		d.entries = append(d.entries, deepRecord{file: k.file})
	}
	r := &d.entries[i]
	if r.line == 0 && line > 0 {
		r.line = line
	}
	if r.batch == nil && batch != nil {
		r.batch, r.index = batch, int32(index)
	}
	r.n += by
}

// batchLine hands one line of an agent's batch.ndjson to a worker.
func (d *deepScan) batchLine(agent, path string, n int64, line []byte, long bool) {
	b := &deepBatch{agent: agent, path: path, line: n}
	d.batches = append(d.batches, b)
	if long {
		b.bad = "unreadable"
		return
	}
	if d.jobs == nil {
		workers := runtime.GOMAXPROCS(0)
		d.jobs = make(chan deepJob, 2*workers)
		for range workers {
			d.wg.Add(1)
			go d.work()
		}
	}
	d.jobs <- deepJob{b: b, line: bytes.Clone(line), keys: d.keys}
}

// wait lets the workers finish every line handed to them.
func (d *deepScan) wait() {
	if d.jobs != nil {
		close(d.jobs)
		d.wg.Wait()
		d.jobs = nil
	}
}

func (d *deepScan) work() {
	defer d.wg.Done()
	var w deepWorker
	for j := range d.jobs {
		w.read(j.b, j.line)
		if b := j.b; j.keys != nil && b.signed && b.bad != "unreadable" && b.bad != "body" {
			b.sigProblem, b.sigChecked = b.signatureProblem(j.keys[b.agent]), true
		}
	}
}

// deepWorker holds one worker's buffers.
type deepWorker struct {
	t     canon.Transformer
	buf   []byte
	body  []byte
	sums  [][sha256.Size]byte
	paths map[string]string // record file paths by type, for the current agent
	agent string
}

// object reads a batch line as parseObject does (I-JSON with no duplicate
// member, an object) in one pass: the canonicalizer validates it and hands
// over its members.
func (w *deepWorker) object(line []byte) (object, bool) {
	var err error
	if w.buf, err = w.t.Append(w.buf[:0], line); err != nil || len(w.buf) == 0 || w.buf[0] != '{' {
		return nil, false
	}
	// Valid and free of duplicate names, as the canonicalizer found it:
	// its members are the ones that walk read, without a second walk.
	o := make(object, 12)
	for name, value := range w.t.Members(line) {
		o[string(name)] = value
	}
	return o, true
}

// rawStr is the member's string value (as object.str), without copying a
// string that holds no escape.
func (o object) rawStr(k string) ([]byte, bool) {
	raw, ok := o[k]
	if !ok || len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	s, ok := o.str(k)
	return []byte(s), ok
}

// read reads one batch line into b: its fields, its body's digest and, for
// a batch that is not quarantined, its records' canonical digests.
func (w *deepWorker) read(b *deepBatch, line []byte) {
	o, ok := w.object(line)
	if !ok {
		b.bad = "unreadable"
		return
	}
	key, ok1 := o.str("batch_key")
	received, ok2 := o.str("received_at")
	claimed, ok3 := o.str("body_sha256")
	body64, ok4 := o.rawStr("body")
	signed, ok5 := o.boolean("signed")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		b.bad = "unreadable"
		return
	}
	b.key, b.signed = key, signed
	_, b.quarantined = o[pack.QuarantinedMember]
	t, err := parseTime(received)
	var ok64 bool
	w.body, ok64 = unbase64Append(w.body[:0], body64)
	if err != nil || !ok64 {
		b.bad = "unreadable"
		return
	}
	body := w.body
	b.receivedAt = t
	sum := sha256.Sum256(body)
	b.sha = hex.EncodeToString(sum[:])
	if b.sha != claimed {
		b.bad = "body"
		return
	}
	seq, okSeq := optString(o, "seq")
	prev, okPrev := optString(o, "prev")
	signature, okSig := optString(o, "signature")
	fp, okFP := optString(o, "key_fingerprint")
	if !okSeq || !okPrev || !okSig || !okFP {
		b.bad = "unreadable"
		return
	}
	b.prev, b.signature, b.fingerprint = prev, signature, fp
	if seq != "" {
		if b.seq, err = strconv.ParseInt(seq, 10, 64); err != nil || b.seq <= 0 || strconv.FormatInt(b.seq, 10) != seq {
			b.bad = "unreadable"
			return
		}
	}
	if b.quarantined {
		return // reported by CheckQuarantine; its bytes and signature are still checked
	}
	// The records' canonical form comes from the walk that validates them.
	w.sums = w.sums[:0]
	parsed, err := batch.ParseCanonical(body, signed, func(_ int, c []byte) { w.sums = append(w.sums, sha256.Sum256(c)) })
	if err != nil {
		b.bad = "invalid"
		return
	}
	records, inPeriod := o.nonNegIntOK("records"), o.nonNegIntOK("records_in_period")
	b.inPeriod = inPeriod
	if !b.matches(parsed, records) || inPeriod < 0 {
		b.bad = "mismatch"
		return
	}
	sums := w.sums
	if parsed.Header != nil {
		sums = sums[1:] // the header is element 0, never a record
	}
	if w.agent != b.agent || w.paths == nil {
		w.agent, w.paths = b.agent, map[string]string{}
	}
	b.recs = make([]bodyRecord, len(parsed.Records))
	for i, r := range parsed.Records {
		p, ok := w.paths[r.Type]
		if !ok {
			p = pack.RecordsPath(b.agent, r.Type)
			w.paths[r.Type] = p
		}
		b.recs[i] = bodyRecord{index: i, path: p, ts: r.TS, sum: sums[i]}
	}
}

// matches says whether the line's own fields say what its body says: the
// header's seq and prev, the batch key, and the record count.
func (b *deepBatch) matches(parsed batch.Batch, records int64) bool {
	if int64(len(parsed.Records)) != records {
		return false
	}
	h := parsed.Header
	if !b.signed {
		return b.seq == 0 && b.prev == "" && b.signature == "" && b.key == "u#"+b.sha
	}
	return h != nil && h.Seq == b.seq && h.Prev == b.prev && b.key == "s#"+strconv.FormatInt(b.seq, 10)
}

func (o object) boolean(k string) (bool, bool) {
	switch string(o[k]) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// nonNegIntOK is the member's value, or -1 when it is not a non-negative
// integer.
func (o object) nonNegIntOK(k string) int64 {
	n, ok := o.nonNegInt(k)
	if !ok {
		return -1
	}
	return n
}

// optString reads a member that is a string or null ("" for null).
func optString(o object, k string) (string, bool) {
	if raw, ok := o[k]; !ok || string(raw) == "null" {
		return "", ok
	}
	return o.str(k)
}

// deepKey is one entry of an agent's key history (SPEC 9).
type deepKey struct {
	pub              []byte
	pinned, unpinned time.Time // unpinned zero while pinned
}

// keyHistory reads agents.ndjson: each agent's keys by fingerprint. ok is
// false when the file cannot be read as SPEC 9 has it.
func keyHistory(data []byte) (map[string]map[string]deepKey, bool) {
	out := map[string]map[string]deepKey{}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		o, _, bad := parseObject(line)
		if bad != "" || o == nil {
			return nil, false
		}
		id, ok := o.str("agent_id")
		list, okl := o.list("signing_keys")
		if !ok || !okl {
			return nil, false
		}
		keys := map[string]deepKey{}
		for _, raw := range list {
			k, _, bad := parseObject(raw)
			if bad != "" || k == nil {
				return nil, false
			}
			pub64, ok1 := k.str("public_key")
			fp, ok2 := k.str("fingerprint")
			pinned, ok3 := k.str("pinned_at")
			unpinned, ok4 := optString(k, "unpinned_at")
			pub, err := unbase64(pub64)
			if !ok1 || !ok2 || !ok3 || !ok4 || err != nil || len(pub) != 32 || pack.Fingerprint(pub) != fp {
				return nil, false
			}
			e := deepKey{pub: pub}
			var errP, errU error
			e.pinned, errP = parseTime(pinned)
			if unpinned != "" {
				e.unpinned, errU = parseTime(unpinned)
			}
			if errP != nil || errU != nil {
				return nil, false
			}
			keys[fp] = e
		}
		out[id] = keys
	}
	return out, true
}

// parseTime reads an RFC 3339 instant of the pack (received_at, pinned_at)
// as verify.py's parse_time does, to the microsecond.
func parseTime(s string) (time.Time, error) {
	t, ok := ParseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("verify: not an RFC 3339 time: %q", s)
	}
	return t, nil
}

// unbase64 decodes standard base64 with padding in its one canonical
// form, as verify.py does.
func unbase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil && base64.StdEncoding.EncodeToString(b) != s {
		err = fmt.Errorf("verify: not canonical base64")
	}
	return b, err
}

// unbase64Append is unbase64 for a batch body, decoding into dst so that a
// worker allocates nothing once warm; it accepts exactly what unbase64
// accepts without encoding the body again (TestUnbase64Append).
func unbase64Append(dst, s []byte) ([]byte, bool) {
	// Strict refuses padding bits that are not zero; the decoder skips CR
	// and LF, which standard base64 in a pack never holds: together, the
	// only encoding accepted is the one Encode writes.
	if bytes.IndexByte(s, '\r') >= 0 || bytes.IndexByte(s, '\n') >= 0 {
		return dst[:0], false
	}
	enc := strictBase64
	dst = slices.Grow(dst[:0], enc.DecodedLen(len(s)))[:enc.DecodedLen(len(s))]
	n, err := enc.Decode(dst, s)
	if err != nil {
		return dst[:0], false
	}
	return dst[:n], true
}

var strictBase64 = base64.StdEncoding.Strict()

// CheckProvenance runs SPEC 9's three rules over what the deep scan read:
// the provenance line (rules 1 and 2, with the legacy warning) and the
// chains line (rule 3). A version 1 pack has no batches: it says so.
func CheckProvenance(c *Contents, m *Manifest) []Check {
	d := c.deep
	pc, cc := newCheck("provenance"), newCheck("chains")
	if m.FormatVersion < 2 {
		pc.warn("Provenance not checked: format version 1 packs carry no batches (SPEC 9)")
		return []Check{pc}
	}
	d.wait()
	if !d.keysRead {
		d.readKeys()
	}
	keys := d.keys
	if !d.keysOK {
		pc.fail("deep_agents", "Key history unreadable: data/"+pack.AgentsPath)
	}
	signedBatches, fps := 0, map[string]bool{}
	for _, b := range d.batches {
		where := fmt.Sprintf("agent %s, batch %s", show(b.agent), show(b.key))
		switch b.bad {
		case "unreadable":
			pc.fail("deep_batch_line", fmt.Sprintf("Batch line unreadable: data/%s line %d", show(b.path), b.line))
			continue
		case "body":
			pc.fail("deep_body", "Batch body does not match its SHA-256: "+where)
			continue
		}
		if b.signed {
			signedBatches++
			msg := b.sigProblem
			if !b.sigChecked {
				msg = b.signatureProblem(keys[b.agent])
			}
			if msg != "" {
				pc.fail("deep_signature", msg+": "+where)
			} else {
				fps[b.fingerprint] = true
			}
		}
		switch b.bad {
		case "invalid":
			pc.fail("deep_body", "Batch body is not a valid batch: "+where)
		case "mismatch":
			pc.fail("deep_batch_line", "Batch line does not match its body: "+where)
		}
	}
	signedRecords, legacyRecords, legacyAgents := 0, 0, map[string]bool{}
	for _, b := range d.batches {
		for _, r := range b.recs {
			if r.ts.Before(m.Start) || !r.ts.Before(m.End.Add(time.Second)) {
				continue
			}
			b.counted++
			if b.signed {
				signedRecords++
			} else {
				legacyRecords++
				legacyAgents[b.agent] = true
			}
			d.count(recordKey{file: d.fileID(r.path), sum: r.sum}, -1, 0, b, r.index)
		}
	}
	for _, b := range d.batches {
		if b.bad == "" && !b.quarantined && b.counted != b.inPeriod {
			pc.fail("deep_batch_line", fmt.Sprintf("Batch line does not match its body: agent %s, batch %s", show(b.agent), show(b.key)))
		}
	}
	for _, r := range d.entries {
		switch {
		case r.n > 0:
			pc.fail("deep_record", fmt.Sprintf("Record not from a signed batch: data/%s line %d", show(d.files[r.file]), r.line))
		case r.n < 0:
			pc.fail("deep_record", fmt.Sprintf("Record missing from data/%s: agent %s, batch %s, record %d", show(d.files[r.file]), show(r.batch.agent), show(r.batch.key), r.index))
		}
	}
	if pc.OK {
		pc.pass(fmt.Sprintf("Provenance: %s records in %s batches, signed by %s agent keys (Ed25519)",
			thousands(signedRecords), thousands(signedBatches), thousands(len(fps))))
	}
	chainAgents := checkChains(&cc, d.batches)
	if cc.OK {
		cc.pass(fmt.Sprintf("Batch chains unbroken (%s agents)", thousands(chainAgents)))
	}
	if legacyRecords > 0 {
		s := "s"
		if len(legacyAgents) == 1 {
			s = ""
		}
		// after the chains line, as SPEC 9 shows it
		cc.warn(fmt.Sprintf("%s records from %s unsigned (legacy) agent%s cannot be attributed", thousands(legacyRecords), thousands(len(legacyAgents)), s))
	}
	return []Check{pc, cc}
}

// signatureProblem says why a signed batch's signature does not hold under
// the agent's key named by its fingerprint, "" when it does (SPEC 9 rule 1).
func (b *deepBatch) signatureProblem(keys map[string]deepKey) string {
	k, ok := keys[b.fingerprint]
	if b.fingerprint == "" || !ok {
		return "Batch signed by a key not in the agent's history"
	}
	if b.receivedAt.Before(k.pinned) || (!k.unpinned.IsZero() && !b.receivedAt.Before(k.unpinned)) {
		return "Batch received outside its key's pinned time"
	}
	raw, err := unbase64(b.signature)
	digest, _ := hex.DecodeString(b.sha)
	if err != nil || sig.VerifyEd25519(k.pub, digest, raw) != nil {
		return "Batch signature invalid"
	}
	return ""
}

// checkChains checks SPEC 9 rule 3 and returns how many agents have a
// chain (signed batches).
func checkChains(ch *Check, batches []*deepBatch) int {
	by := map[string][]*deepBatch{}
	var agents []string
	for _, b := range batches {
		if !b.signed || b.seq == 0 || b.bad == "unreadable" {
			continue
		}
		if _, ok := by[b.agent]; !ok {
			agents = append(agents, b.agent)
		}
		by[b.agent] = append(by[b.agent], b)
	}
	slices.Sort(agents)
	for _, a := range agents {
		bs := by[a]
		slices.SortStableFunc(bs, func(x, y *deepBatch) int { return cmp.Compare(x.seq, y.seq) })
		for i := 1; i < len(bs); i++ {
			if bs[i].seq == bs[i-1].seq || (bs[i].prev != "" && bs[i].prev != bs[i-1].sha) {
				ch.fail("deep_chain", fmt.Sprintf("Batch chain broken: %s before seq %d", show(a), bs[i].seq))
			}
		}
	}
	return len(agents)
}

// thousands prints n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
