"""Unit tests of verify.py's building blocks. Run by TestVerifyPy (Go) with
and without the `cryptography` package importable:

    python3 -m unittest -v verify_test
"""

import importlib.util
import json
import os
import struct
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("verify", os.path.join(HERE, "verify.py"))
verify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify)

L = 2**252 + 27742317777372353535851937790883648493


# The Ed25519 vectors of SPEC 3, shared with the Go tests of internal/sig:
# every file lists vectors with the strict answer in "valid"; constructed.json
# also lists key encodings with the answer in "ok".
VECTORS = os.path.join(HERE, "..", "sig", "testdata", "ed25519")
VECTOR_FILES = ("rfc8032.json", "speccheck.json", "ed25519vectors.json", "constructed.json")


def _load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def _vectors():
    return _load("rfc8032.json")["vectors"]


class Backend(unittest.TestCase):
    def test_backend(self):
        want = os.environ.get("EXPECT_ED25519_BACKEND")
        if want:
            self.assertEqual(verify.ED25519_BACKEND, want)


class Ed25519Vectors(unittest.TestCase):
    def test_rfc8032_pure(self):
        for v in _vectors():
            pub, msg, sig = (bytes.fromhex(v[k]) for k in ("public", "message", "signature"))
            with self.subTest(v["name"]):
                self.assertEqual(verify._verify_pure(pub, msg, sig), v["valid"])

    def test_rfc8032_strict(self):
        for v in _vectors():
            pub, msg, sig = (bytes.fromhex(v[k]) for k in ("public", "message", "signature"))
            with self.subTest(v["name"]):
                self.assertEqual(verify.ed25519_verify(pub, msg, sig), v["valid"])

    def test_tampered(self):
        v = _vectors()[2]
        pub, msg, sig = (bytes.fromhex(v[k]) for k in ("public", "message", "signature"))
        for i in (0, 31, 32, 63):
            bad = bytearray(sig)
            bad[i] ^= 1
            self.assertFalse(verify._verify_pure(pub, msg, bytes(bad)))
            self.assertFalse(verify.ed25519_verify(pub, msg, bytes(bad)))
        self.assertFalse(verify._verify_pure(pub, msg + b"x", sig))
        self.assertFalse(verify.ed25519_verify(pub, msg + b"x", sig))

    def test_non_canonical_s(self):
        # S + L is the same scalar mod L but not the canonical encoding.
        v = _vectors()[0]
        pub, msg, sig = (bytes.fromhex(v[k]) for k in ("public", "message", "signature"))
        s = int.from_bytes(sig[32:], "little") + L
        bad = sig[:32] + s.to_bytes(32, "little")
        self.assertFalse(verify._verify_pure(pub, msg, bad))
        self.assertFalse(verify.ed25519_verify(pub, msg, bad))

    def test_small_order_keys(self):
        identity = bytes([1]) + bytes(31)
        order2 = bytes.fromhex("ec" + "ff" * 30 + "7f")
        order4 = bytes(32)
        y_is_p = bytes.fromhex("ed" + "ff" * 30 + "7f")  # non-canonical y = p
        for pub in (identity, order2, order4, y_is_p):
            with self.subTest(pub.hex()):
                self.assertFalse(verify.ed25519_key_ok(pub))
        # With A = identity, R = identity and S = 0 "verify" any message
        # under cofactorless arithmetic; strict verification refuses the key.
        sig = identity + bytes(32)
        self.assertTrue(verify._verify_pure(identity, b"any message", sig))
        self.assertFalse(verify.ed25519_verify(identity, b"any message", sig))
        for v in _vectors():
            self.assertTrue(verify.ed25519_key_ok(bytes.fromhex(v["public"])))


class Ed25519Strict(unittest.TestCase):
    """The same vectors and answers as internal/sig's TestStrictVectors."""

    def test_signature_vectors(self):
        n = valid = 0
        for name in VECTOR_FILES:
            for v in _load(name)["vectors"]:
                pub, msg, sig = (bytes.fromhex(v[k]) for k in ("public", "message", "signature"))
                n += 1
                valid += v["valid"]
                with self.subTest(v["name"]):
                    self.assertEqual(verify.ed25519_verify(pub, msg, sig), v["valid"], v["flags"])
        self.assertGreater(n, 800)
        self.assertGreater(valid, 50)

    def test_key_vectors(self):
        keys = _load("constructed.json")["keys"]
        self.assertGreater(len(keys), 30)
        for k in keys:
            with self.subTest(k["name"]):
                self.assertEqual(verify.ed25519_key_ok(bytes.fromhex(k["public"])), k["ok"], k["flags"])


class CanonicalJSON(unittest.TestCase):
    TESTDATA = os.path.join(HERE, "..", "canon", "testdata")

    def test_rfc8785_examples(self):
        names = sorted(os.listdir(os.path.join(self.TESTDATA, "input")))
        self.assertTrue(names)
        for n in names:
            with self.subTest(n):
                with open(os.path.join(self.TESTDATA, "input", n), "rb") as f:
                    got = verify.canonical_json(verify.strict_json(f.read())).encode("utf-8")
                with open(os.path.join(self.TESTDATA, "output", n), "rb") as f:
                    self.assertEqual(got, f.read())

    def test_rfc8785_numbers(self):
        with open(os.path.join(self.TESTDATA, "numbers.txt")) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                h, want = line.split()
                x = struct.unpack(">d", bytes.fromhex(h))[0]
                with self.subTest(h):
                    if want == "error":
                        self.assertRaises(ValueError, verify.canonical_json, x)
                    else:
                        self.assertEqual(verify.canonical_json(x), want)

    def test_rejects(self):
        for bad in (b'{"a":1,"a":2}', b"NaN", b"[Infinity]", b"\xff"):
            with self.subTest(bad):
                self.assertRaises(ValueError, verify.strict_json, bad)

    def test_ijson_vectors(self):
        """The vectors internal/canon's tests run: verify.py reads as I-JSON
        exactly what the hub's canonicalizer accepts."""
        n = 0
        with open(os.path.join(self.TESTDATA, "ijson.txt")) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                verdict, rule, data, what = line.rstrip("\n").split(" ", 3)
                n += 1
                with self.subTest(what):
                    if verdict == "ok":
                        verify.strict_json(bytes.fromhex(data))
                    else:
                        self.assertRaises(ValueError, verify.strict_json, bytes.fromhex(data))
        self.assertGreaterEqual(n, 30)


class Helpers(unittest.TestCase):
    def test_parse_time(self):
        ok = {
            "2026-05-01T08:03:14Z": (2026, 5, 1, 8, 3, 14, 0),
            "2026-05-01T10:03:14.5+02:00": (2026, 5, 1, 8, 3, 14, 500000),
            "2026-05-01T08:03:14.123456789Z": (2026, 5, 1, 8, 3, 14, 123456),
        }
        for s, want in ok.items():
            t = verify.parse_time(s)
            self.assertEqual((t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond), want)
        for s in ("2026-05-01", "2026-05-01T08:03:14", "2026-02-30T00:00:00Z", "2026-05-01T24:00:00Z",
                  "2026-05-01t08:03:14z", "2026-05-01T08:03:14Z\n", "0001-01-01T00:00:00+01:00", "2026-05-01T08:03:14+24:00"):
            self.assertIsNone(verify.parse_time(s), s)

    def test_path_safe(self):
        for p in ("a.ndjson", "agents/x/y.ndjson", "naïve.ndjson"):
            self.assertTrue(verify.path_safe(p), p)
        for p in ("", "/a", "a/../b", "..", "a//b", "./a", "a/", "a\\b", "C:x", "a\x00b", "a\nb"):
            self.assertFalse(verify.path_safe(p), p)

    def test_fingerprint_forms(self):
        fp = ":".join(["ab"] * 32)
        for s in (fp, fp.upper(), "ab" * 32, "sha256:" + "AB" * 32, " " + fp + "\n"):
            self.assertEqual(verify.normalize_fingerprint(s), fp)
        for s in ("", "ab" * 31, "zz" * 32, fp + ":ab"):
            self.assertIsNone(verify.normalize_fingerprint(s))


class ParseBatch(unittest.TestCase):
    """--deep reads bodies as the hub's batch.Parse does: the vectors of
    internal/batch/testdata/parse.txt, which TestParseVectors runs in Go."""

    def test_vectors(self):
        n = 0
        with open(os.path.join(HERE, "..", "batch", "testdata", "parse.txt"), "rb") as f:
            for raw in f:
                line = raw.rstrip(b"\n")
                if not line or line.startswith(b"#"):
                    continue
                want, kind, body = line.split(b" ", 2)
                with self.subTest(body=body):
                    if want == b"ok":
                        verify.parse_batch(body, kind == b"signed")
                    else:
                        self.assertRaises((ValueError, RecursionError), verify.parse_batch, body, kind == b"signed")
                n += 1
        self.assertGreaterEqual(n, 20)

    def test_unbase64_canonical(self):
        self.assertEqual(verify._unbase64("YWI="), b"ab")
        for s in ("YWJ=", "YWI", "YW I=", "YWI=\n", "YWI==", "Y\u00e9I="):
            self.assertIsNone(verify._unbase64(s), s)


if __name__ == "__main__":
    unittest.main()
