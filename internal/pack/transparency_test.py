"""verify.py's SPEC 10 checks on the vectors the Go verifier runs
(internal/verify/testdata/transparency/vectors.json): the same lines, the
same outcome. Run by TestVerifyPyTransparency (Go), with and without the
`cryptography` package:

    python3 -m unittest -v transparency_test
"""

import importlib.util
import json
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("verify", os.path.join(HERE, "verify.py"))
verify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify)

VECTORS = os.environ.get("MONSYS_TLOG_VECTORS") or os.path.join(
    HERE, "..", "verify", "testdata", "transparency", "vectors.json")


def _run(v):
    keys = verify.parse_transparency_options(v["log_key"], v["witness_keys"] or [], v["quorum"])
    inp = dict(v["pack"])
    for k in ("pack_proof", "pins_proofs"):
        inp[k] = v[k].encode("utf-8") if v[k] is not None else None
    inp["key_history"] = v["key_history"] or []
    checks = verify.check_transparency(inp, keys)
    lines = [l for ch in checks for l in ch.lines]
    codes = [code for ch in checks for code, _ in ch.problems]
    return all(ch.ok for ch in checks), lines, codes


class Vectors(unittest.TestCase):
    def test_vectors(self):
        with open(VECTORS, encoding="utf-8") as f:
            vectors = json.load(f)["vectors"]
        self.assertGreaterEqual(len(vectors), 15)
        for v in vectors:
            with self.subTest(v["name"]):
                ok, lines, codes = _run(v)
                self.assertEqual(lines, v["lines"])
                self.assertEqual(codes, v["codes"])
                self.assertEqual(ok, v["ok"])


class Units(unittest.TestCase):
    def test_inclusion_matches_go_on_every_shape(self):
        # Every (index, size) up to 20 leaves: the right proof verifies, a
        # proof one hash short or long does not.
        import hashlib

        def leaf(i):
            return hashlib.sha256(b"\x00" + b"e%d" % i).digest()

        def node(a, b):
            return hashlib.sha256(b"\x01" + a + b).digest()

        def mth(lo, hi):
            if hi - lo == 1:
                return leaf(lo)
            k = 1
            while k * 2 < hi - lo:
                k *= 2
            return node(mth(lo, lo + k), mth(lo + k, hi))

        def path(i, lo, hi):
            if hi - lo == 1:
                return []
            k = 1
            while k * 2 < hi - lo:
                k *= 2
            if i < lo + k:
                return path(i, lo, lo + k) + [mth(lo + k, hi)]
            return path(i, lo + k, hi) + [mth(lo, lo + k)]

        for size in range(1, 21):
            root = mth(0, size)
            for i in range(size):
                p = path(i, 0, size)
                self.assertTrue(verify.verify_inclusion(i, size, b"e%d" % i, p, root))
                self.assertFalse(verify.verify_inclusion(i, size, b"e%d" % i, p + [root], root))
                if p:
                    self.assertFalse(verify.verify_inclusion(i, size, b"e%d" % i, p[:-1], root))
                self.assertFalse(verify.verify_inclusion(i, size, b"x", p, root))
            self.assertFalse(verify.verify_inclusion(size, size, b"e0", [], root))

    def test_parse_proof_reasons(self):
        h = b"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
        cp = b"o\n1\n" + h + b"\n\n\xe2\x80\x94 o AAAAAA==\n"
        for data, reason in (
            (b"c2sp.org/tlog-proof@v2\nindex 0\n\n" + cp, "missing header"),
            (b"c2sp.org/tlog-proof@v1\nextra YWJjZA\nindex 0\n\n" + cp, "bad extra line"),
            (b"c2sp.org/tlog-proof@v1\nindex 01\n\n" + cp, "bad index line"),
            (b"c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\n" + cp, "bad index line"),
            (b"c2sp.org/tlog-proof@v1\nindex 0\nYWJj\n\n" + cp, "bad proof hash"),
            (b"c2sp.org/tlog-proof@v1\nindex 0\n" + h + b"\r\n\n" + cp, "bad proof hash"),
            (b"c2sp.org/tlog-proof@v1\nindex 0\n" + h + b"\n\n", "truncated"),
            (b"c2sp.org/tlog-proof@v1\nindex 0\n" + (h + b"\n") * 64 + b"\n" + cp, "too many proof hashes"),
        ):
            with self.assertRaises(verify.ProofMalformed) as e:
                verify.parse_proof(data)
            self.assertEqual(str(e.exception), reason)
        extra, index, path, rest = verify.parse_proof(b"c2sp.org/tlog-proof@v1\nextra YWJj\nindex 3\n" + h + b"\n\n" + cp)
        self.assertEqual((extra, index, len(path), rest), (b"abc", 3, 1, cp))

    def test_bad_options(self):
        with open(VECTORS, encoding="utf-8") as f:
            v = json.load(f)["vectors"][0]
        log, w1 = v["log_key"], v["witness_keys"][0]
        for args in ((w1, [w1], None), (log, [log], None), ("nope", [w1], None), (log, [w1, w1], None),
                     (log, [w1], 2), (log, [w1], -1), (log[:-2] + "A=", [w1], None)):
            with self.assertRaises(verify.UsageError):
                verify.parse_transparency_options(*args)

    def test_fuzz_proofs_and_checkpoints(self):
        # Seeded mutations of the vectors' proofs (bytes flipped, cut,
        # inserted, lines repeated or dropped): parsing and the checks either
        # answer or say ProofMalformed, never raise anything else, and a
        # pack proof that passes proves the same entry.
        import random
        with open(VECTORS, encoding="utf-8") as f:
            v = json.load(f)["vectors"][0]
        keys = verify.parse_transparency_options(v["log_key"], v["witness_keys"], v["quorum"])
        good = {k: v[k].encode("utf-8") for k in ("pack_proof", "pins_proofs")}
        rnd = random.Random(14)
        alphabet = b"\n \xe2\x80\x94+/=0123456789abcdefAZ\x00\xff"

        def mutate(b):
            b = bytearray(b)
            for _ in range(rnd.randint(1, 3)):
                op, i = rnd.randrange(5), rnd.randrange(len(b) + 1)
                if op == 0 and i < len(b):
                    b[i] ^= 1 << rnd.randrange(8)
                elif op == 1:
                    del b[i:]
                elif op == 2:
                    b[i:i] = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 4)))
                else:
                    lines = bytes(b).split(b"\n")
                    j = rnd.randrange(len(lines))
                    lines[j:j + 1] = [lines[j]] * (0 if op == 3 else 2)
                    b = bytearray(b"\n".join(lines))
                if not b:
                    break
            return bytes(b)

        for n in range(int(os.environ.get("MONSYS_FUZZ_ROUNDS", "400"))):
            which = "pack_proof" if n % 2 == 0 else "pins_proofs"
            data = mutate(good[which])
            try:
                verify.parse_proof(data)
            except verify.ProofMalformed:
                pass
            try:
                verify.split_proofs(data)
            except verify.ProofMalformed:
                pass
            inp = dict(v["pack"], key_history=v["key_history"], **good)
            inp[which] = data
            checks = verify.check_transparency(inp, keys)
            if all(ch.ok for ch in checks) and which == "pack_proof":
                self.assertEqual(verify.parse_proof(data)[0], verify.parse_proof(good[which])[0], "another entry passes: %r" % data)

    def test_key_history_entries(self):
        fp = "4a:" * 31 + "4a"
        agents = ('{"agent_id":"ag_a","signing_keys":[{"fingerprint":"%s","pinned_at":"2026-03-01T00:00:00Z",'
                  '"unpinned_at":"2026-04-01T00:00:00Z"},{"fingerprint":"%s","pinned_at":"x","unpinned_at":null}]}\n'
                  '{"agent_id":"ag_legacy","signing_keys":[]}\n' % (fp, fp)).encode()
        es = verify.key_history_entries(agents)
        self.assertEqual([e["type"] for e in es], ["pin", "unpin", "pin"])
        self.assertEqual(es[1]["at"], "2026-04-01T00:00:00Z")


if __name__ == "__main__":
    unittest.main()
