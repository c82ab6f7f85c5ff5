package pack

import (
	"fmt"
	"strings"
)

// readmeText is README.txt: how to verify the pack, in plain words. It is
// not signed; nothing in it is needed to verify the pack.
func readmeText(m *Manifest, fileName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `monsys evidence pack
====================

Tenant:       %s
Period:       %s to %s (UTC)
Generated at: %s
Pack id:      %s
Pack file:    %s

What this is
------------
This archive holds the monitoring records of the period above, exactly as the
monsys hub stored them, together with everything needed to check that not one
byte has changed since the hub signed them. You do not need a monsys account or
network access to check it.

What is inside
--------------
manifest.json      the list of every data file with its SHA-256 hash and its
                   number of records, plus the tenant, period and signing key
manifest.sig       the Ed25519 signature of manifest.json (hex), made by the
                   tenant's pack-signing key over the SHA-256 of manifest.json
signing_key.pub    the public half of that signing key (PEM)
key_lineage.json   the history of the tenant's signing keys: when each was
                   active, and how each new key was endorsed by the one before
verify.py          a script that checks all of the above
README.txt         this file
data/              the records, one JSON object per line, in a fixed order

How to verify
-------------
You need Python 3.8 or later. The "cryptography" package makes it faster
(pip install cryptography) but is not required. Run:

    python3 verify.py %s --expect-fingerprint <FINGERPRINT>

or, after unpacking the archive, run it on the unpacked folder:

    python3 verify.py <FOLDER> --expect-fingerprint <FINGERPRINT>

Get <FINGERPRINT> from the organisation that gave you this pack, through a
channel other than the pack itself (for example their signing-keys page or a
signed letter). Without --expect-fingerprint the script still checks that the
pack is intact and consistent, but not who signed it, and says so.

Every line starting with a check mark is a check that passed. The script exits
with status 0 when everything holds, 1 when any check fails (it names each
problem, such as a changed, missing or extra file) and 2 when it could not read
its input. Add --json for a machine-readable report.

A line starting with a warning sign does not fail the pack but needs your
attention. "Quarantined batch" means the hub holds a batch from that agent
whose records it could not put in the pack (malformed, or damaged in
storage): the batch is listed, with the reason, in
data/agents/<agent>/batch.ndjson, and none of its records is in the other
files.

Because verify.py travels inside the pack, a careful auditor keeps a copy from
an earlier pack or from the vendor and compares it, or uses that copy.

What the checks mean
--------------------
- Signature valid: manifest.json was signed by the key in signing_key.pub.
- Fingerprint: that key is the one you expected.
- Files intact: every file under data/ is listed in the manifest with the same
  SHA-256 and record count, and there are no extra files.
- inputs_hash consistent: the manifest's summary hash matches its file list.
- Signing key active: according to the key lineage, the key was the tenant's
  signing key at the time the pack was generated, and each key change was
  endorsed by the previous key (or the script warns that it was not).
`, m.TenantID, m.PeriodStart, m.PeriodEnd, m.GeneratedAt, m.PackID, fileName, fileName)
	return b.String()
}
