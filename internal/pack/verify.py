#!/usr/bin/env python3
"""Verify a monsys evidence pack offline.

    python verify.py PACK.tar.gz [--expect-fingerprint FP] [--deep]
        [--log-key VKEY] [--witness-key VKEY]... [--witness-quorum N] [--json]
    python verify.py DIRECTORY   [...]

Needs Python 3.8+ and its standard library only. When the `cryptography`
package is importable it checks Ed25519 signatures with it; otherwise it uses
the pure-Python RFC 8032 implementation below. It reads the archive as a
stream, never extracts it, never follows links and downloads nothing.

Exit status: 0 when every check holds, 1 when any check fails, 2 on a usage
error or input that cannot be read at all.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import stat
import struct
import sys
import zlib

try:  # optional, faster and constant-time; the fallback below is exact too
    from cryptography.exceptions import InvalidSignature as _InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PublicKey as _Ed25519PublicKey,
    )

    ED25519_BACKEND = "cryptography"
except Exception:  # ImportError, or a broken installation
    ED25519_BACKEND = "pure-python"

# Hard caps, applied before any content is trusted (same values as the Go verifier).
MAX_MEMBERS = 100000
MAX_MEMBER_SIZE = 64 << 30
MAX_MANIFEST_SIZE = 32 << 20
MAX_LINEAGE_SIZE = 4 << 20
MAX_SMALL_SIZE = 64 << 10  # manifest.sig, signing_key.pub
MAX_DOC_SIZE = 4 << 20  # verify.py, README.txt
MAX_PROOF_SIZE = 1 << 20  # transparency/pack.tlog-proof
MAX_PROOFS_SIZE = 64 << 20  # transparency/pins.tlog-proofs
MAX_PAX_SIZE = 1 << 20
MAX_PADDING = 1 << 20  # zero bytes accepted after the end of the tar archive
CHUNK = 1 << 16

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBKEY = "signing_key.pub"
LINEAGE = "key_lineage.json"
PACK_PROOF = "transparency/pack.tlog-proof"  # SPEC 8, 10: outside data/ and the manifest
PINS_PROOFS = "transparency/pins.tlog-proofs"
REQUIRED = (MANIFEST, SIGNATURE, PUBKEY, LINEAGE)
DOCS = ("verify.py", "README.txt")
SIZE_CAPS = {
    MANIFEST: MAX_MANIFEST_SIZE,
    SIGNATURE: MAX_SMALL_SIZE,
    PUBKEY: MAX_SMALL_SIZE,
    LINEAGE: MAX_LINEAGE_SIZE,
    "verify.py": MAX_DOC_SIZE,
    "README.txt": MAX_DOC_SIZE,
    PACK_PROOF: MAX_PROOF_SIZE,
    PINS_PROOFS: MAX_PROOFS_SIZE,
}

OK, FAIL, WARN = "\u2713", "\u2717", "\u26a0"
ARROW = "\u2192"


class UsageError(Exception):
    pass


class Fatal(Exception):
    """The archive cannot be read any further."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032), pure Python. Verification only.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _inv(x):
    return pow(x, _P - 2, _P)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * _inv(_D * y * y + 1) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _encode(p):
    x, y, z, _ = p
    zi = _inv(z)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(b):
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * _inv(5) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def _is_identity(p):
    x, y, z, _ = p
    return x % _P == 0 and (y - z) % _P == 0


def _strict_point(b):
    """The canonical encoding (y < p, no negative zero) of a curve point that
    is not of small order: what SPEC 3 asks of a public key and of R."""
    p = _decode(b)
    return p is not None and not _is_identity(_mul(8, p))


def ed25519_key_ok(pub):
    """A public key SPEC 3 accepts: 32 bytes, a canonical encoding of a
    point that is not of small order."""
    return len(pub) == 32 and _strict_point(pub)


def _verify_pure(pub, msg, sig):
    a = _decode(pub)
    if a is None or len(sig) != 64:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % _L
    # R' = [S]B - [h]A, compared by encoding with R (cofactorless, as Go does).
    neg_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    return _encode(_add(_mul(s, _G), _mul(h, neg_a))) == sig[:32]


def ed25519_verify(pub, msg, sig):
    """Strict Ed25519 (SPEC 3), the same rules as the hub's Go code: RFC 8032
    section 5.1.7 with the cofactorless equation, and a public key or R that
    is not a canonical point encoding or is of small order, or S >= L, is
    invalid. These checks come first for both back ends: OpenSSL, under
    `cryptography`, accepts small-order keys and R and non-canonical keys."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    if not _strict_point(pub) or not _strict_point(sig[:32]):
        return False
    if int.from_bytes(sig[32:], "little") >= _L:
        return False
    if ED25519_BACKEND == "cryptography":
        try:
            _Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
            return True
        except (_InvalidSignature, ValueError):
            return False
    return _verify_pure(pub, msg, sig)


# ---------------------------------------------------------------------------
# RFC 8785 canonical JSON (for lineage endorsements).


def _es_number(f):
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    r = repr(abs(f))
    mant, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    lead = len(ip + fp) - len((ip + fp).lstrip("0"))
    n = len(ip) + exp - lead  # value = 0.DIGITS * 10**n
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + es
    return sign + out


_ES_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _es_string(s):
    out = ['"']
    for ch in s:
        esc = _ES_ESCAPES.get(ch)
        if esc is None and ord(ch) < 0x20:
            esc = "\\u%04x" % ord(ch)
        out.append(ch if esc is None else esc)
    out.append('"')
    return "".join(out)


def canonical_json(v):
    """RFC 8785 text of a value decoded by json.loads."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) < 2**53:
            return str(v)
        return _es_number(float(v))
    if isinstance(v, float):
        return _es_number(v)
    if isinstance(v, str):
        return _es_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical_json(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_es_string(k) + ":" + canonical_json(v[k]) for k in keys) + "}"
    raise ValueError("not a JSON value")


MAX_DEPTH = 64  # I-JSON as SPEC 4.2 has it: nesting at most 64 levels
_SURROGATE = re.compile("[\ud800-\udfff]")


class _DuplicateKey(ValueError):
    pass


def _no_dupes(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _DuplicateKey(k)
        d[k] = v
    return d


def _bad_constant(name):
    raise ValueError("not JSON: " + name)


def _double(s):
    f = float(s)
    if f in (float("inf"), float("-inf")):
        raise ValueError("number out of range: " + s[:40])
    return f


def _integer(s):
    _double(s)  # an integer beyond the double range is refused too
    return int(s)


def _ijson(v, depth):
    """Raise ValueError unless v nests at most MAX_DEPTH levels and holds no
    lone surrogate (json.loads decodes "\\ud800" to one)."""
    if isinstance(v, str):
        if _SURROGATE.search(v):
            raise ValueError("lone surrogate")
    elif isinstance(v, (list, dict)):
        if depth >= MAX_DEPTH:
            raise ValueError("nesting deeper than %d levels" % MAX_DEPTH)
        pairs = v.items() if isinstance(v, dict) else (("", x) for x in v)
        for name, x in pairs:
            _ijson(name, depth)
            _ijson(x, depth + 1)


def strict_json(data):
    """Parse I-JSON (RFC 7493) as the hub's canonicalizer does: UTF-8, no
    duplicate keys, no lone surrogates, no number beyond the double range
    (nor NaN/Infinity), nesting at most MAX_DEPTH levels."""
    text = data.decode("utf-8")
    v = json.loads(
        text, object_pairs_hook=_no_dupes, parse_constant=_bad_constant, parse_float=_double, parse_int=_integer
    )
    _ijson(v, 0)
    return v


# ---------------------------------------------------------------------------
# Small helpers shared by the checks.


def show(name):
    """Printable form of an archive name: control bytes and bytes that are not
    UTF-8 are written as \\xNN."""
    out = []
    for ch in name:
        c = ord(ch)
        if 0xDC80 <= c <= 0xDCFF:
            out.append("\\x%02x" % (c - 0xDC00))
        elif c < 0x20 or c == 0x7F:
            out.append("\\x%02x" % c)
        else:
            out.append(ch)
    return "".join(out)


def path_safe(p):
    """A relative '/'-separated path without empty, '.' or '..' parts."""
    if not p or p.startswith("/") or "\\" in p or "\x00" in p:
        return False
    if re.match(r"^[A-Za-z]:", p):
        return False
    for ch in p:
        c = ord(ch)
        if c < 0x20 or c == 0x7F or 0xD800 <= c <= 0xDFFF:
            return False
    for part in p.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def fingerprint(pub):
    return ":".join("%02x" % b for b in hashlib.sha256(pub).digest())


_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(s):
    """RFC 3339 instant -> aware UTC datetime (microsecond precision), or None."""
    if not isinstance(s, str):
        return None
    m = _TIME.fullmatch(s)
    if not m:
        return None
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6])
    tz = m.group(8)
    try:
        if tz == "Z":
            off = datetime.timedelta(0)
        else:
            oh, om = int(tz[1:3]), int(tz[4:6])
            if oh > 23 or om > 59:
                return None
            off = datetime.timedelta(hours=oh, minutes=om)
            if tz[0] == "-":
                off = -off
        t = datetime.datetime(y, mo, d, h, mi, se, micro, tzinfo=datetime.timezone(off))
        return t.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        return None


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


_PEM_PREFIX = bytes.fromhex("302a300506032b6570032100")


def parse_public_key_pem(data):
    """signing_key.pub: one PEM PUBLIC KEY block, Ed25519 SubjectPublicKeyInfo."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.strip(" \t\r\n")
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    if len(text) < len(begin) + len(end) or not text.startswith(begin) or not text.endswith(end):
        return None
    body = text[len(begin) : -len(end)]
    if "-----" in body or ":" in body:
        return None
    body = re.sub(r"[ \t\r\n]", "", body)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != 44 or not der.startswith(_PEM_PREFIX):
        return None
    return der[12:]


def normalize_fingerprint(fp):
    s = fp.strip(" \t\r\n").lower()
    if s.startswith("sha256:"):
        s = s[7:]
    s = s.replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", s):
        return None
    return ":".join(s[i : i + 2] for i in range(0, 64, 2))


# ---------------------------------------------------------------------------
# Reading the pack: archive (gzip + tar, streamed) or directory.


class Contents(object):
    def __init__(self):
        self.members = {}  # root files -> bytes
        self.files = {}  # path under data/ -> (sha256 hex, size, lines)
        self.problems = []  # (code, message), in archive order
        self.warnings = []
        self.quarantined = []  # (path, line, agent, batch key or None, reason or None)
        self.deep = None  # a DeepScan with --deep
        self.history = None  # an AgentsFile with --log-key (SPEC 10's key history)
        self.fatal = False
        self.seen = set()
        self.count = 0

    def problem(self, code, message):
        self.problems.append((code, message))


class GzipStream(object):
    """One gzip member (RFC 1952), decompressed as a stream. After the member
    ends, any further byte of the file is trailing data."""

    def __init__(self, f):
        self.f = f
        self.buf = b""  # compressed bytes read but not yet used
        self.out = b""
        self.z = zlib.decompressobj(-15)
        self.crc = 0
        self.size = 0
        self.done = False
        self._header()

    def _raw(self, n):
        while len(self.buf) < n:
            chunk = self.f.read(CHUNK)
            if not chunk:
                raise Fatal("truncated", "Archive truncated: unexpected end of data")
            self.buf += chunk
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def _cstring(self):
        out = b""
        while True:
            c = self._raw(1)
            if c == b"\x00":
                return out
            out += c

    def _header(self):
        first = self.f.read(10)
        if not first:
            raise Fatal("truncated", "Archive truncated: unexpected end of data")
        self.buf = first
        h = self._raw(10)
        if h[0] != 0x1F or h[1] != 0x8B:
            raise Fatal("corrupt", "Archive unreadable: not a gzip file")
        if h[2] != 8 or h[3] & 0xE0:
            raise Fatal("corrupt", "Archive unreadable: corrupt gzip header")
        flags = h[3]
        hdr = h
        if flags & 4:
            xl = self._raw(2)
            hdr += xl + self._raw(struct.unpack("<H", xl)[0])
        if flags & 8:
            hdr += self._cstring() + b"\x00"
        if flags & 16:
            hdr += self._cstring() + b"\x00"
        if flags & 2:
            want = struct.unpack("<H", self._raw(2))[0]
            if zlib.crc32(hdr) & 0xFFFF != want:
                raise Fatal("corrupt", "Archive unreadable: corrupt gzip header")

    def read(self, n):
        while len(self.out) < n and not self.done:
            if not self.buf:
                self.buf = self.f.read(CHUNK)
                if not self.buf:
                    raise Fatal("truncated", "Archive truncated: unexpected end of data")
            try:
                data = self.z.decompress(self.buf, max(n, CHUNK))
            except zlib.error:
                raise Fatal("corrupt", "Archive unreadable: corrupt gzip data")
            self.buf = self.z.unconsumed_tail
            self.crc = zlib.crc32(data, self.crc)
            self.size += len(data)
            self.out += data
            if self.z.eof:
                self.buf = self.z.unused_data
                self.done = True
                trailer = self._raw(8)
                crc, isize = struct.unpack("<II", trailer)
                if crc != self.crc & 0xFFFFFFFF or isize != self.size & 0xFFFFFFFF:
                    raise Fatal("corrupt", "Archive unreadable: gzip checksum mismatch")
        b, self.out = self.out[:n], self.out[n:]
        return b

    def trailing(self):
        """True when bytes follow the gzip member in the file."""
        if self.buf:
            return True
        return bool(self.f.read(1))


def _read_full(stream, n):
    """Exactly n bytes; b"" at a clean end; Fatal on a partial read."""
    out = b""
    while len(out) < n:
        chunk = stream.read(min(n - len(out), CHUNK))
        if not chunk:
            if not out:
                return b""
            raise Fatal("truncated", "Archive truncated: unexpected end of data")
        out += chunk
    return out


def _octal(field):
    """tar numeric field: octal text, or base-256 when the high bit is set."""
    if field and field[0] & 0x80:
        inv = 0xFF if field[0] & 0x40 else 0
        x = 0
        for i, c in enumerate(field):
            c ^= inv
            if i == 0:
                c &= 0x7F
            x = (x << 8) | c
        if inv:
            x = -x - 1
        if x >= 1 << 63 or x < -(1 << 63):
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        return x
    s = field.strip(b" \x00").split(b"\x00", 1)[0]
    if not s:
        return 0
    if not re.fullmatch(rb"[0-7]+", s) or int(s, 8) >= 1 << 64:
        raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
    return int(s, 8)


def _cstr(field):
    return field.split(b"\x00", 1)[0]


def _parse_pax(data):
    recs = {}
    while data:
        sp = data.find(b" ")
        if sp <= 0 or not re.fullmatch(rb"[0-9]+", data[:sp]):
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        n = int(data[:sp])
        if n <= sp + 1 or n > len(data) or data[n - 1 : n] != b"\n":
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        rec, data = data[sp + 1 : n - 1], data[n:]
        key, eq, value = rec.partition(b"=")
        if not eq or not key:
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        if key in (b"path", b"linkpath", b"uname", b"gname") and b"\x00" in value:
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        recs[key] = value
    return recs


def _pax_int(v):
    if not re.fullmatch(rb"[+-]?[0-9]+", v) or not -(1 << 63) <= int(v) < 1 << 63:
        raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
    return int(v)


def _checksum_ok(block):
    value = _octal(block[148:156])
    b = block[:148] + b"        " + block[156:]
    unsigned = sum(b)
    signed = sum(x - 256 if x > 127 else x for x in b)
    return value in (unsigned, signed)


def iter_tar(stream):
    """Yield (name, typeflag, size, linkname, reader) for each entry of a tar
    stream; reader(n) reads the entry's data. Mirrors Go's archive/tar."""
    pax = {}
    long_name = None
    long_link = None
    while True:
        block = _read_full(stream, 512)
        if not block:
            return
        if block == b"\x00" * 512:
            block = _read_full(stream, 512)
            if not block or block == b"\x00" * 512:
                return
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        if not _checksum_ok(block):
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        typeflag = block[156:157].decode("latin-1") or "\x00"
        name = _cstr(block[0:100])
        link = _cstr(block[157:257])
        size = _octal(block[124:136])
        for lo, hi in ((100, 108), (108, 116), (116, 124), (136, 148)):
            _octal(block[lo:hi])
        magic, version = block[257:263], block[263:265]
        if magic == b"ustar\x00":
            _octal(block[329:337])
            _octal(block[337:345])
            prefix = _cstr(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        elif magic == b"ustar " and version == b" \x00":
            for lo, hi in ((345, 357), (357, 369)):
                if block[lo] != 0:
                    _octal(block[lo:hi])
        if typeflag in ("1", "2", "3", "4", "5", "6"):
            size_data = 0
        else:
            size_data = size
        if size_data < 0:
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")

        if typeflag in ("x", "g", "L", "K"):
            if size_data > MAX_PAX_SIZE:
                raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
            data = _read_full(stream, size_data) if size_data else b""
            if len(data) != size_data:
                raise Fatal("truncated", "Archive truncated: unexpected end of data")
            _skip(stream, (-size_data) % 512)
            if typeflag in ("x", "g"):
                recs = _parse_pax(data)
                if typeflag == "g":
                    yield (name, "g", 0, b"", None)
                    continue
                pax = recs
            elif typeflag == "L":
                long_name = _cstr(data)
            else:
                long_link = _cstr(data)
            continue

        sparse = False
        for k, v in pax.items():
            if k == b"path":
                name = v
            elif k == b"linkpath":
                link = v
            elif k == b"size":
                size = _pax_int(v)
            elif k in (b"uid", b"gid"):
                _pax_int(v)
            elif k.startswith(b"GNU.sparse."):
                sparse = True
        if long_name is not None:
            name = long_name
        if long_link is not None:
            link = long_link
        pax, long_name, long_link = {}, None, None
        if typeflag == "\x00":
            typeflag = "5" if name.endswith(b"/") else "0"
        if typeflag in ("1", "2", "3", "4", "5", "6"):
            size_data = 0
        else:
            size_data = size
        if size_data < 0:
            raise Fatal("corrupt", "Archive unreadable: corrupt tar header")
        if sparse:
            typeflag = "S"
        remaining = [size_data]

        def reader(n, remaining=remaining):
            n = min(n, remaining[0])
            if n <= 0:
                return b""
            b = stream.read(n)
            if not b:
                raise Fatal("truncated", "Archive truncated: unexpected end of data")
            remaining[0] -= len(b)
            return b

        yield (name, typeflag, size_data, link, reader)
        while remaining[0] > 0:
            reader(CHUNK)
        _skip(stream, (-size_data) % 512)


def _skip(stream, n):
    while n > 0:
        b = stream.read(min(n, CHUNK))
        if not b:
            raise Fatal("truncated", "Archive truncated: unexpected end of data")
        n -= len(b)


def _classify(c, raw_name, kind, size):
    """Decide what to do with one entry. Returns ("root", name), ("data", rel)
    or None to skip its data."""
    c.count += 1
    if c.count > MAX_MEMBERS:
        raise Fatal("limit", "Too many entries in archive (limit %d)" % MAX_MEMBERS)
    name = raw_name.decode("utf-8", "surrogateescape")
    if name.startswith("./"):
        name = name[2:]
    if size > MAX_MEMBER_SIZE:  # even skipping it means reading it: stop here
        raise Fatal("limit", "Entry too large: %s (%d bytes, limit %d)" % (show(name), size, MAX_MEMBER_SIZE))
    if kind == "dir":
        if name.endswith("/"):
            name = name[:-1]
        if name in ("", "."):
            return None  # the archive's own root, as "tar -C dir ." writes it
    if not path_safe(name):
        c.problem("unsafe_path", "Unsafe path in archive: " + show(name))
        return None
    if kind == "link":
        c.problem("link", "Link not allowed in archive: " + show(name))
        return None
    if kind == "special":
        c.problem("special_file", "Device or special file not allowed in archive: " + show(name))
        return None
    if kind == "other":
        c.problem("unsupported_type", "Unsupported entry type in archive: " + show(name))
        return None
    if name in c.seen:
        c.problem("duplicate", "Duplicate entry in archive: " + show(name))
        return None
    c.seen.add(name)
    if kind == "dir":
        if name != "data" and not name.startswith("data/") and name != "transparency":
            c.problem("unexpected_member", "Unexpected entry in archive: " + show(name))
        return None
    if name in SIZE_CAPS:
        if size > SIZE_CAPS[name]:
            c.problem("limit", "Entry too large: %s (%d bytes, limit %d)" % (name, size, SIZE_CAPS[name]))
            return None
        return ("root", name)
    if name.startswith("data/"):
        return ("data", name[5:])
    c.problem("unexpected_member", "Unexpected entry in archive: " + show(name))
    return None


def _consume(c, target, read):
    """Read one file's data into Contents."""
    if target[0] == "root":
        parts = []
        while True:
            b = read(CHUNK)
            if not b:
                break
            parts.append(b)
        c.members[target[1]] = b"".join(parts)
        return
    q = None
    fns = []
    agent = _batch_file_agent(target[1])
    if agent is not None:
        q = _QuarantineScan(target[1], agent)
        fns.append(q.line)
    if c.deep is not None:
        fn = c.deep.lines(target[1])
        if fn is not None:
            fns.append(fn)
    if c.history is not None and target[1] == "agents.ndjson":
        fns.append(c.history.line)
    split = None
    if fns:

        def each(n, line, long):
            for fn in fns:
                fn(n, line, long)

        split = _LineSplit(each)
    h = hashlib.sha256()
    size = lines = 0
    last = b""
    while True:
        b = read(CHUNK)
        if not b:
            break
        if split is not None:
            split.write(b)
        h.update(b)
        size += len(b)
        lines += b.count(b"\n")
        last = b[-1:]
    if size and last != b"\n":
        lines += 1
    c.files[target[1]] = (h.hexdigest(), size, lines)
    if split is not None:
        split.close()
    if q is not None:
        c.quarantined.extend(q.found)


# ---------------------------------------------------------------------------
# Quarantined batches (SPEC 9, "Records that cannot be packed"): a stored
# batch none of whose records could be packed has a line in its agent's
# batch.ndjson with "quarantined":"<reason>". The files are read as they
# stream by, one line of at most MAX_BATCH_LINE bytes at a time.

MAX_BATCH_LINE = 1 << 20  # a SPEC 9 batch line (a 256 KiB body in base64) is well under it
_QUARANTINE_MARK = b'"quarantined":'  # never inside a canonical string, where '"' is escaped


def _batch_file_agent(path):
    """The agent whose batch.ndjson path (under data/) is, or None."""
    if not path.startswith("agents/") or not path.endswith("/batch.ndjson"):
        return None
    agent = path[len("agents/") : -len("/batch.ndjson")]
    if not agent or "/" in agent:
        return None
    return agent


class _LineSplit(object):
    """Cuts a file into lines as it streams by, keeping at most one line of
    MAX_BATCH_LINE bytes, and hands each to fn(number from 1, bytes, long)."""

    def __init__(self, fn):
        self.fn = fn
        self.parts, self.size, self.long, self.n = [], 0, False, 0

    def write(self, b):
        while b:
            i = b.find(b"\n")
            if i < 0:
                self._add(b)
                return
            self._add(b[:i])
            self._end()
            b = b[i + 1 :]

    def _add(self, b):
        if self.long:
            return
        if self.size + len(b) > MAX_BATCH_LINE:
            self.long, self.parts, self.size = True, [], 0
            return
        self.parts.append(b)
        self.size += len(b)

    def _end(self):
        self.n += 1
        self.fn(self.n, b"".join(self.parts), self.long)
        self.parts, self.size, self.long = [], 0, False

    def close(self):
        if self.size or self.long:
            self._end()


class _QuarantineScan(object):
    def __init__(self, path, agent):
        self.path, self.agent = path, agent
        self.found = []

    def line(self, n, line, long):
        if long:
            self.found.append((self.path, n, self.agent, None, None))
        elif _QUARANTINE_MARK in line:
            key = reason = None
            try:
                o = strict_json(line)
                if isinstance(o, dict) and isinstance(o.get("batch_key"), str) and isinstance(o.get("quarantined"), str):
                    key, reason = o["batch_key"], o["quarantined"]
            except (UnicodeDecodeError, ValueError, RecursionError):
                pass
            self.found.append((self.path, n, self.agent, key, reason))


_KINDS = {"0": "file", "5": "dir", "1": "link", "2": "link", "3": "special", "4": "special", "6": "special"}


def read_archive(f, deep=False, history=False):
    c = Contents()
    if deep:
        c.deep = DeepScan()
    if history:
        c.history = AgentsFile()
    try:
        gz = GzipStream(f)
        for name, typeflag, size, _link, reader in iter_tar(gz):
            target = _classify(c, name, _KINDS.get(typeflag, "other"), size)
            if target is not None:
                _consume(c, target, reader)
        padding = 0
        while True:  # the rest of the gzip member: tar padding, zeros only
            b = gz.read(CHUNK)
            if not b:
                break
            padding += len(b)
            if b.strip(b"\x00") or padding > MAX_PADDING:
                c.problem("trailing_data", "Data after the end of the tar archive")
                return c
        if gz.trailing():
            c.problem("trailing_data", "Data after the end of the gzip stream")
    except Fatal as e:
        c.problem(e.code, e.message)
        c.fatal = True
    return c


def read_directory(top, deep=False, history=False):
    c = Contents()
    if deep:
        c.deep = DeepScan()
    if history:
        c.history = AgentsFile()
    try:
        _walk(c, top, "")
    except Fatal as e:
        c.problem(e.code, e.message)
        c.fatal = True
    return c


def _walk(c, top, rel):
    try:
        names = sorted(os.listdir(os.path.join(top, rel) if rel else top))
    except OSError:
        raise Fatal("unreadable", "Cannot read directory: " + show(rel or "."))
    for n in names:
        r = rel + "/" + n if rel else n
        full = os.path.join(top, r)
        try:
            st = os.lstat(full)
        except OSError:
            raise Fatal("unreadable", "Cannot read: " + show(r))
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            kind = "link"
        elif stat.S_ISDIR(mode):
            kind = "dir"
        elif stat.S_ISREG(mode):
            kind = "file"
        else:
            kind = "special"
        raw = os.fsencode(r)
        target = _classify(c, raw, kind, st.st_size)
        if kind == "dir" and target is None and r in c.seen:
            _walk(c, top, r)
        elif target is not None:
            try:
                with open(full, "rb") as fh:
                    _consume(c, target, fh.read)
            except OSError:
                raise Fatal("unreadable", "Cannot read: " + show(r))


# ---------------------------------------------------------------------------
# The checks (SPEC 7 and 8). Each returns a Check.


class Check(object):
    def __init__(self, name):
        self.name = name
        self.ok = True
        self.lines = []  # text lines, with their symbols
        self.problems = []
        self.warnings = []
        self.detail = ""

    def passed(self, text):
        self.lines.append(OK + " " + text)
        self.detail = text

    def fail(self, code, text, *details):
        self.ok = False
        self.lines.append(FAIL + " " + text)
        self.lines.extend(details)
        self.problems.append((code, text))
        if not self.detail:
            self.detail = text

    def warn(self, text):
        self.lines.append(WARN + " " + text)
        self.warnings.append(text)


def check_archive(c):
    """SPEC 8.1: layout and archive safety."""
    ch = Check("archive")
    for code, msg in c.problems:
        ch.fail(code, msg)
    if not c.fatal:
        for name in REQUIRED:
            if name not in c.members:
                ch.fail("missing_member", "Missing " + name)
        for name in DOCS:
            if name not in c.members:
                ch.warn("Missing " + name + " (not needed to verify)")
    if ch.ok:
        ch.detail = "archive well-formed"
    return ch


def check_signature(c):
    """SPEC 8: manifest.sig = hex(Ed25519(SHA-256(manifest.json)))."""
    ch = Check("signature")
    man, sig, pem = c.members.get(MANIFEST), c.members.get(SIGNATURE), c.members.get(PUBKEY)
    if man is None or sig is None or pem is None:
        ch.fail("not_checked", "Signature not checked: manifest.json, manifest.sig or signing_key.pub missing")
        return ch
    pub = parse_public_key_pem(pem)
    if pub is None:
        ch.fail("public_key", "Signature not checked: signing_key.pub is not a PEM Ed25519 public key")
        return ch
    if not ed25519_key_ok(pub):
        ch.fail("public_key", "Signature invalid (Ed25519): signing_key.pub is a weak key (small order or non-canonical)")
        return ch
    try:
        text = sig.decode("ascii").strip(" \t\r\n")
    except UnicodeDecodeError:
        text = ""
    raw = bytes.fromhex(text) if re.fullmatch(r"[0-9a-fA-F]{128}", text) else b""
    if len(raw) != 64:
        ch.fail("bad_signature", "Signature invalid (Ed25519): manifest.sig is not the hex of 64 bytes")
        return ch
    if not ed25519_verify(pub, hashlib.sha256(man).digest(), raw):
        ch.fail("bad_signature", "Signature invalid (Ed25519): manifest.json is not signed by the key in signing_key.pub")
        return ch
    ch.passed("Signature valid (Ed25519)")
    return ch


def check_fingerprint(c, expected):
    """SPEC 7/8.1: the signing key's fingerprint, against --expect-fingerprint."""
    ch = Check("fingerprint")
    pem = c.members.get(PUBKEY)
    pub = parse_public_key_pem(pem) if pem is not None else None
    if pub is None:
        ch.fail("not_checked", "Signing key fingerprint not checked: signing_key.pub unreadable")
        return ch, None
    fp = fingerprint(pub)
    if expected is None:
        ch.passed("Signing key fingerprint: %s (not checked against an expected fingerprint; use --expect-fingerprint)" % fp)
    elif expected == fp:
        ch.passed("Signing key matches expected fingerprint: " + fp)
    else:
        ch.fail("fingerprint_mismatch", "Signing key does not match expected fingerprint: expected %s, got %s" % (expected, fp))
    return ch, fp


_STRING_FIELDS = (
    "pack_id",
    "tenant_id",
    "period_start",
    "period_end",
    "generated_at",
    "signing_key_id",
    "inputs_hash",
    "key_lineage_sha256",
)


def parse_manifest(data):
    """SPEC 8: manifest.json fields. Returns (manifest, None) or (None, reason)."""
    try:
        m = strict_json(data)
    except _DuplicateKey:
        return None, "duplicate key"
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "not valid JSON"
    if not isinstance(m, dict):
        return None, "not a JSON object"
    if not is_int(m.get("format_version")) or m.get("format_version") not in (1, 2):
        return None, "format_version is not 1 or 2"
    for k in _STRING_FIELDS:
        if not isinstance(m.get(k), str) or not m.get(k):
            return None, k + " missing or not a string"
    for k in ("period_start", "period_end", "generated_at"):
        if parse_time(m[k]) is None:
            return None, k + " is not an RFC 3339 time"
    if not _HEX64.fullmatch(m["key_lineage_sha256"]):
        return None, "key_lineage_sha256 is not 64 lowercase hex"
    ih = m["inputs_hash"]
    if not ih.startswith("sha256:") or not _HEX64.fullmatch(ih[7:]):
        return None, "inputs_hash is not sha256:<64 lowercase hex>"
    files = m.get("files")
    if not isinstance(files, list):
        return None, "files missing or not a list"
    prev = None
    for i, f in enumerate(files):
        if (
            not isinstance(f, dict)
            or not isinstance(f.get("path"), str)
            or not isinstance(f.get("sha256"), str)
            or not _HEX64.fullmatch(f["sha256"])
            or not is_int(f.get("record_count"))
            or not 0 <= f["record_count"] < 1 << 63
        ):
            return None, "files[%d] is malformed" % i
        if not path_safe(f["path"]):
            return None, "files[%d] has an unsafe path" % i
        if prev is not None and not prev < f["path"].encode("utf-8"):
            return None, "files not sorted by path or not unique"
        prev = f["path"].encode("utf-8")
    pp = m.get("previous_pack")
    if pp is not None and (
        not isinstance(pp, dict)
        or not isinstance(pp.get("pack_id"), str)
        or not isinstance(pp.get("manifest_sha256"), str)
        or not _HEX64.fullmatch(pp["manifest_sha256"])
    ):
        return None, "previous_pack is malformed"
    return m, None


def check_files(c, m):
    """SPEC 8: every file under data/ listed, same SHA-256 and record_count."""
    ch = Check("files")
    listed = dict((f["path"], f) for f in m["files"])
    for p in sorted(set(listed) | set(c.files), key=lambda s: s.encode("utf-8", "surrogateescape")):
        f, got = listed.get(p), c.files.get(p)
        if got is None:
            ch.fail("file_missing", "File missing: data/" + show(p))
        elif f is None:
            ch.fail("file_unlisted", "File not listed in manifest: data/" + show(p))
        elif got[0] != f["sha256"]:
            ch.fail(
                "file_tampered",
                "File tampered: data/" + show(p),
                "  Expected SHA256: " + f["sha256"],
                "  Actual SHA256:   " + got[0],
            )
        elif got[2] != f["record_count"]:
            ch.fail(
                "record_count",
                "Record count mismatch: data/%s (manifest says %d, file has %d)" % (show(p), f["record_count"], got[2]),
            )
    if ch.ok:
        ch.passed("All %d files intact (SHA256 match)" % len(m["files"]))
    return ch


def check_inputs_hash(m):
    """SPEC 8: inputs_hash over the files' sha256 strings, in files order."""
    ch = Check("inputs_hash")
    h = hashlib.sha256("".join(f["sha256"] for f in m["files"]).encode("ascii")).hexdigest()
    if m["inputs_hash"] != "sha256:" + h:
        ch.fail("inputs_hash", "inputs_hash inconsistent: manifest says %s, files give sha256:%s" % (m["inputs_hash"], h))
    else:
        ch.passed("inputs_hash consistent")
    return ch


class Key(object):
    """One parsed lineage entry; raw is the entry exactly as decoded."""

    def __init__(self, raw, pub, start, until):
        self.raw, self.pub, self.start, self.until = raw, pub, start, until
        self.key_id = raw["key_id"]


def parse_lineage(data):
    """SPEC 7: key_lineage.json. Returns ([Key], None) or (None, reason)."""
    try:
        doc = strict_json(data)
    except _DuplicateKey:
        return None, "duplicate key"
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "not valid JSON"
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        doc = doc["keys"]
    if not isinstance(doc, list) or not doc:
        return None, "not a non-empty list of keys"
    ids = set()
    prev_until = None
    keys = []
    for i, e in enumerate(doc):
        if not isinstance(e, dict):
            return None, "entry %d is not an object" % i
        for k in ("key_id", "public_key", "fingerprint", "active_from"):
            if not isinstance(e.get(k), str) or not e.get(k):
                return None, "entry %d: %s missing or not a string" % (i, k)
        if e["key_id"] in ids:
            return None, "entry %d: key_id repeated" % i
        ids.add(e["key_id"])
        try:
            pub = base64.b64decode(e["public_key"], validate=True)
        except (binascii.Error, ValueError):
            pub = b""
        if len(pub) != 32 or base64.b64encode(pub).decode("ascii") != e["public_key"]:
            return None, "entry %d: public_key is not base64 of 32 bytes" % i
        if e["fingerprint"] != fingerprint(pub):
            return None, "entry %d: fingerprint does not match public_key" % i
        start = parse_time(e["active_from"])
        if start is None:
            return None, "entry %d: active_from is not an RFC 3339 time" % i
        until = None
        if e.get("active_until") is not None:
            until = parse_time(e["active_until"])
            if until is None or until < start:
                return None, "entry %d: active_until is not an RFC 3339 time after active_from" % i
        elif i != len(doc) - 1:
            return None, "entry %d: only the last key may be open (active_until null)" % i
        if prev_until is not None and start < prev_until:
            return None, "entry %d: active_from before the previous key's active_until" % i
        prev_until = until
        end = e.get("endorsement")
        if end is not None and (
            not isinstance(end, dict) or not isinstance(end.get("by_key_id"), str) or not isinstance(end.get("signature"), str)
        ):
            return None, "entry %d: endorsement is malformed" % i
        keys.append(Key(e, pub, start, until))
    return keys, None


def endorsement_messages(entry):
    """What an endorsement may sign: the entry without "endorsement", with
    active_until as written, or null as it was when the key became active."""
    d = dict((k, v) for k, v in entry.items() if k != "endorsement")
    out = [canonical_json(d).encode("utf-8")]
    if d.get("active_until") is not None:
        d["active_until"] = None
        out.append(canonical_json(d).encode("utf-8"))
    return out


def check_lineage(c, m, pub):
    """SPEC 7: key_lineage_sha256, the key active at generated_at, endorsements."""
    ch = Check("key_lineage")
    data = c.members.get(LINEAGE)
    if data is None:
        ch.fail("not_checked", "Key lineage not checked: key_lineage.json missing")
        return ch
    if hashlib.sha256(data).hexdigest() != m["key_lineage_sha256"]:
        ch.fail("lineage_hash", "key_lineage.json does not match key_lineage_sha256 in manifest.json")
    keys, reason = parse_lineage(data)
    if keys is None:
        ch.fail("lineage_invalid", "key_lineage.json invalid: " + reason)
        return ch
    kid = m["signing_key_id"]
    gen = parse_time(m["generated_at"])
    key = None
    for k in keys:
        if k.key_id == kid:
            key = k
    if key is None:
        ch.fail("key_not_in_lineage", "Signing key %s not found in key lineage" % show(kid))
    else:
        if pub is None or key.pub != pub:
            ch.fail("key_mismatch", "Signing key %s in key lineage is not the key in signing_key.pub" % show(kid))
        if gen < key.start or (key.until is not None and gen > key.until):
            ch.fail(
                "key_inactive",
                "Signing key %s not active at generated_at %s (active %s %s %s)"
                % (show(kid), m["generated_at"], key.raw["active_from"], ARROW, key.raw.get("active_until") or "now"),
            )
    for i, k in enumerate(keys):
        end = k.raw.get("endorsement")
        if i == 0:
            if end is not None:
                ch.warn(
                    "Key lineage: first key %s is endorsed by %s, which is not in the lineage; not checked"
                    % (show(k.key_id), show(end["by_key_id"]))
                )
            continue
        prev = keys[i - 1]
        if end is None:
            ch.warn(
                "Key lineage: %s is not endorsed by the previous key %s (a rotation after compromise?)"
                % (show(k.key_id), show(prev.key_id))
            )
            continue
        if end["by_key_id"] != prev.key_id:
            ch.fail(
                "endorsement_invalid",
                "Key lineage endorsement broken: %s is endorsed by %s, not by the previous key %s"
                % (show(k.key_id), show(end["by_key_id"]), show(prev.key_id)),
            )
            continue
        sig = b""
        if re.fullmatch(r"[0-9a-f]{128}", end["signature"]):
            sig = bytes.fromhex(end["signature"])
        good = False
        if sig:
            try:
                msgs = endorsement_messages(k.raw)
            except (ValueError, UnicodeEncodeError):
                msgs = []
            good = any(ed25519_verify(prev.pub, hashlib.sha256(msg).digest(), sig) for msg in msgs)
        if not good:
            ch.fail(
                "endorsement_invalid",
                "Key lineage endorsement broken: %s is not validly endorsed by %s" % (show(k.key_id), show(prev.key_id)),
            )
    if ch.ok:
        ch.lines.insert(0, OK + " Signing key active at generated_at (key lineage)")
        ch.detail = "Signing key active at generated_at (key lineage)"
    return ch


def check_period(m):
    ch = Check("period")
    start, end = parse_time(m["period_start"]), parse_time(m["period_end"])
    if end < start:
        ch.fail("period_invalid", "Period invalid: period_end %s before period_start %s" % (m["period_end"], m["period_start"]))
    else:
        ch.passed("Period: %s %s %s" % (start.date().isoformat(), ARROW, end.date().isoformat()))
    return ch


def check_tenant(m):
    ch = Check("tenant")
    ch.passed("Tenant: " + show(m["tenant_id"]))
    return ch


def check_quarantine(c):
    """SPEC 9: warn of every quarantined batch, and of every batch line that
    cannot be read, in path and line order. Never fails."""
    ch = Check("quarantine")
    for path, n, agent, key, reason in sorted(
        c.quarantined, key=lambda q: (q[0].encode("utf-8", "surrogateescape"), q[1])
    ):
        if key is None:
            ch.warn("Batch line not readable: data/%s line %d" % (show(path), n))
        else:
            ch.warn(
                "Quarantined batch (records not packed): agent %s, batch %s: %s" % (show(agent), show(key), show(reason))
            )
    return ch



# ---------------------------------------------------------------------------
# SPEC 9 provenance (--deep): every batch line's bytes and signature under the
# agent's key of its time, the records of the bodies against the lines of the
# agent's record files, and each agent's chain. The Go verifier
# (internal/verify/deep.go) prints the same lines.

MAX_AGENTS_FILE = 64 << 20
MAX_BATCH_BYTES = 256 << 10  # SPEC 4.2
MAX_BATCH_RECORDS = 1000
_TYPE = re.compile(r"[a-z0-9_]{1,64}")
_TS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})")
_SEQ = re.compile(r"[1-9][0-9]{0,18}")


def _unbase64(s):
    """Standard base64 with padding, in its one canonical form, or None."""
    try:
        b = base64.b64decode(s.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    return b if base64.b64encode(b).decode("ascii") == s else None


def _record_ts(s):
    """A record's ts as the hub reads it (RFC 3339, any number of fraction
    digits), as an aware UTC datetime truncated to the microsecond, or None."""
    if not isinstance(s, str):
        return None
    m = _TS.fullmatch(s)
    if not m:
        return None
    return parse_time(s if m.group(7) is None else s[: m.start(7)] + m.group(7)[:9] + s[m.end(7) :])


def parse_batch(body, signed):
    """The records of a stored body as the hub's batch.Parse reads it (SPEC 4.2
    check 7): (header or None, [record objects]); ValueError when it refuses."""
    if len(body) > MAX_BATCH_BYTES:
        raise ValueError("body too large")
    v = json.loads(
        body.decode("utf-8"), object_pairs_hook=_no_dupes, parse_constant=_bad_constant, parse_float=_double, parse_int=_integer
    )
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_BATCH_RECORDS:
        raise ValueError("not an array of 1 to 1000 records")
    header, records = None, []
    for i, r in enumerate(v):
        _ijson(r, 0)
        if not isinstance(r, dict) or not isinstance(r.get("type"), str) or not _TYPE.fullmatch(r["type"]):
            raise ValueError("bad record")
        ts = _record_ts(r.get("ts"))
        if ts is None:
            raise ValueError("bad ts")
        if r["type"] != "batch":
            records.append((r, ts))
            continue
        if i != 0:
            raise ValueError("header not first")
        seq, ver, prev = r.get("seq"), r.get("agent_version"), r.get("prev")
        if not is_int(seq) or not 0 < seq < 1 << 63:
            raise ValueError("bad seq")
        if not isinstance(ver, str) or not 1 <= len(ver.encode("utf-8")) <= 64:
            raise ValueError("bad agent_version")
        if prev is not None and (not isinstance(prev, str) or not _HEX64.fullmatch(prev)):
            raise ValueError("bad prev")
        header = (seq, prev or "")
    if signed and header is None:
        raise ValueError("no header")
    return header, records


class _DeepBatch(object):
    def __init__(self, agent, path, line):
        self.agent, self.path, self.line = agent, path, line
        self.key, self.seq, self.prev, self.received = "", 0, "", None
        self.sha, self.signature, self.fingerprint = "", "", ""
        self.signed = self.quarantined = False
        self.in_period = self.counted = 0
        self.bad = ""


class DeepScan(object):
    """What check_provenance needs, collected as the data files stream by."""

    def __init__(self):
        self.batches = []
        self.recs = {}  # (path, sha256 of the line) -> [n, path, line, agent, batch, index], first-seen order
        self.body = []  # (agent, batch key, index, path, ts, sha256, signed, _DeepBatch)
        self.agents = []
        self.agents_size = 0
        self.too_big = False

    def lines(self, path):
        """The line reader for the data file at path, or None."""
        if path == "agents.ndjson":
            return self._agents_line
        agent = _batch_file_agent(path)
        if agent is not None:
            return lambda n, line, long: self._batch_line(agent, path, n, line, long)
        if not path.startswith("agents/") or path[len("agents/") :].count("/") != 1:
            return None
        agent = path[len("agents/") :].split("/")[0]

        def record(n, line, long):
            s = hashlib.sha256(("long line %d" % n).encode() if long else line).digest()
            self.count((path, s), 1, (path, n, agent, "", 0))

        return record

    def _agents_line(self, n, line, long):
        if long or self.agents_size + len(line) > MAX_AGENTS_FILE:
            self.too_big = True
            return
        self.agents.append(bytes(line))
        self.agents_size += len(line) + 1

    def count(self, k, by, first):
        r = self.recs.get(k)
        if r is None:
            r = [0, first[0], first[1], first[2], first[3], first[4]]
            self.recs[k] = r
        if not r[1] and first[0]:
            r[1], r[2] = first[0], first[1]
        if not r[4] and first[3]:
            r[4], r[5], r[3] = first[3], first[4], first[2]
        r[0] += by

    def _batch_line(self, agent, path, n, line, long):
        b = _DeepBatch(agent, path, n)
        self.batches.append(b)
        if long:
            b.bad = "unreadable"
            return
        try:
            o = strict_json(bytes(line))
        except (UnicodeDecodeError, ValueError, RecursionError):
            o = None
        if not isinstance(o, dict):
            b.bad = "unreadable"
            return
        key, received, claimed, body64, signed = (o.get(k) for k in ("batch_key", "received_at", "body_sha256", "body", "signed"))
        if not all(isinstance(x, str) for x in (key, received, claimed, body64)) or not isinstance(signed, bool):
            b.bad = "unreadable"
            return
        b.key, b.signed = key, signed
        b.quarantined = "quarantined" in o
        t = parse_time(received)
        body = _unbase64(body64)
        if t is None or body is None:
            b.bad = "unreadable"
            return
        b.received = t
        b.sha = hashlib.sha256(body).hexdigest()
        if b.sha != claimed:
            b.bad = "body"
            return
        opt = {}
        for k in ("seq", "prev", "signature", "key_fingerprint"):
            if k not in o or not (o[k] is None or isinstance(o[k], str)):
                b.bad = "unreadable"
                return
            opt[k] = o[k] or ""
        b.prev, b.signature, b.fingerprint = opt["prev"], opt["signature"], opt["key_fingerprint"]
        if opt["seq"]:
            if not _SEQ.fullmatch(opt["seq"]) or int(opt["seq"]) >= 1 << 63:
                b.bad = "unreadable"
                return
            b.seq = int(opt["seq"])
        if b.quarantined:
            return
        try:
            header, records = parse_batch(body, signed)
            lines = [canonical_json(r).encode("utf-8") for r, _ in records]
        except (UnicodeDecodeError, ValueError, RecursionError):
            b.bad = "invalid"
            return
        nrec, inp = o.get("records"), o.get("records_in_period")
        nrec = nrec if is_int(nrec) and 0 <= nrec < 1 << 63 else -1
        inp = inp if is_int(inp) and 0 <= inp < 1 << 63 else -1
        b.in_period = inp
        if not _batch_matches(b, header, len(records), nrec) or inp < 0:
            b.bad = "mismatch"
            return
        for i, ((r, ts), canon) in enumerate(zip(records, lines)):
            p = "agents/%s/%s.ndjson" % (agent, r["type"])
            self.body.append((agent, key, i, p, ts, hashlib.sha256(canon).digest(), signed, b))


def _batch_matches(b, header, n, nrec):
    if n != nrec:
        return False
    if not b.signed:
        return b.seq == 0 and b.prev == "" and b.signature == "" and b.key == "u#" + b.sha
    return header is not None and header[0] == b.seq and header[1] == b.prev and b.key == "s#%d" % b.seq


def _key_history(lines):
    """agents.ndjson: {agent: {fingerprint: (pub, pinned, unpinned or None)}}, or None."""
    out = {}
    for line in lines:
        if not line:
            continue
        try:
            a = strict_json(line)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(a, dict) or not isinstance(a.get("agent_id"), str) or not isinstance(a.get("signing_keys"), list):
            return None
        keys = {}
        for k in a["signing_keys"]:
            if not isinstance(k, dict) or "unpinned_at" not in k:
                return None
            pub64, fp, pinned, unpinned = k.get("public_key"), k.get("fingerprint"), k.get("pinned_at"), k.get("unpinned_at")
            if not isinstance(pub64, str) or not isinstance(fp, str) or not isinstance(pinned, str):
                return None
            if unpinned is not None and not isinstance(unpinned, str):
                return None
            pub = _unbase64(pub64)
            if pub is None or len(pub) != 32 or fingerprint(pub) != fp:
                return None
            p = parse_time(pinned)
            u = parse_time(unpinned) if unpinned else None
            if p is None or (unpinned and u is None):
                return None
            keys[fp] = (pub, p, u)
        out[a["agent_id"]] = keys
    return out


def _signature_problem(b, keys):
    k = keys.get(b.fingerprint) if b.fingerprint else None
    if k is None:
        return "Batch signed by a key not in the agent's history"
    pub, pinned, unpinned = k
    if b.received < pinned or (unpinned is not None and b.received >= unpinned):
        return "Batch received outside its key's pinned time"
    sig = _unbase64(b.signature)
    if sig is None or not ed25519_verify(pub, bytes.fromhex(b.sha), sig):
        return "Batch signature invalid"
    return ""


def _thousands(n):
    return "{:,}".format(n)


def check_provenance(c, m):
    """SPEC 9's three rules: the provenance line (rules 1 and 2) and the
    chains line (rule 3), then the legacy warning."""
    d = c.deep
    pc, cc = Check("provenance"), Check("chains")
    if m["format_version"] < 2:
        pc.warn("Provenance not checked: format version 1 packs carry no batches (SPEC 9)")
        return [pc]
    keys = _key_history(d.agents)
    if keys is None or d.too_big:
        pc.fail("deep_agents", "Key history unreadable: data/agents.ndjson")
        keys = {}
    signed_batches, fps = 0, set()
    for b in d.batches:
        where = "agent %s, batch %s" % (show(b.agent), show(b.key))
        if b.bad == "unreadable":
            pc.fail("deep_batch_line", "Batch line unreadable: data/%s line %d" % (show(b.path), b.line))
            continue
        if b.bad == "body":
            pc.fail("deep_body", "Batch body does not match its SHA-256: " + where)
            continue
        if b.signed:
            signed_batches += 1
            msg = _signature_problem(b, keys.get(b.agent, {}))
            if msg:
                pc.fail("deep_signature", msg + ": " + where)
            else:
                fps.add(b.fingerprint)
        if b.bad == "invalid":
            pc.fail("deep_body", "Batch body is not a valid batch: " + where)
        elif b.bad == "mismatch":
            pc.fail("deep_batch_line", "Batch line does not match its body: " + where)
    start = parse_time(m["period_start"])
    until = parse_time(m["period_end"]) + datetime.timedelta(seconds=1)
    signed_records = legacy_records = 0
    legacy_agents = set()
    for agent, key, i, path, ts, s, signed, b in d.body:
        if ts < start or ts >= until:
            continue
        b.counted += 1
        if signed:
            signed_records += 1
        else:
            legacy_records += 1
            legacy_agents.add(agent)
        d.count((path, s), -1, ("", 0, agent, key, i))
    for b in d.batches:
        if b.bad == "" and not b.quarantined and b.counted != b.in_period:
            pc.fail("deep_batch_line", "Batch line does not match its body: agent %s, batch %s" % (show(b.agent), show(b.key)))
    for (path, _), r in d.recs.items():
        if r[0] > 0:
            pc.fail("deep_record", "Record not from a signed batch: data/%s line %d" % (show(r[1]), r[2]))
        elif r[0] < 0:
            pc.fail(
                "deep_record",
                "Record missing from data/%s: agent %s, batch %s, record %d" % (show(path), show(r[3]), show(r[4]), r[5]),
            )
    if pc.ok:
        pc.passed(
            "Provenance: %s records in %s batches, signed by %s agent keys (Ed25519)"
            % (_thousands(signed_records), _thousands(signed_batches), _thousands(len(fps)))
        )
    chains = {}
    for b in d.batches:
        if b.signed and b.seq and b.bad != "unreadable":
            chains.setdefault(b.agent, []).append(b)
    for agent in sorted(chains, key=lambda a: a.encode("utf-8", "surrogateescape")):
        bs = sorted(chains[agent], key=lambda b: b.seq)
        for prev, b in zip(bs, bs[1:]):
            if b.seq == prev.seq or (b.prev and b.prev != prev.sha):
                cc.fail("deep_chain", "Batch chain broken: %s before seq %d" % (show(agent), b.seq))
    if cc.ok:
        cc.passed("Batch chains unbroken (%s agents)" % _thousands(len(chains)))
    if legacy_records:
        cc.warn(
            "%s records from %s unsigned (legacy) agent%s cannot be attributed"
            % (_thousands(legacy_records), _thousands(len(legacy_agents)), "" if len(legacy_agents) == 1 else "s")
        )
    return [pc, cc]


def verify(c, expected, keys=None):
    """Run every check; returns (ok, checks, manifest-or-None, fingerprint).
    With c.deep (--deep) the provenance checks of SPEC 9 follow, then with
    keys (--log-key) the transparency checks of SPEC 10."""
    checks = [check_archive(c)]
    if c.fatal:
        return False, checks, None, None
    checks.append(check_signature(c))
    fp_check, fp = check_fingerprint(c, expected)
    checks.append(fp_check)
    mc = Check("manifest")
    m = None
    if MANIFEST not in c.members:
        mc.fail("not_checked", "manifest.json not checked: missing")
    else:
        m, reason = parse_manifest(c.members[MANIFEST])
        if m is None:
            mc.fail("manifest_invalid", "manifest.json invalid: " + reason)
        else:
            mc.detail = "manifest.json well-formed"
    checks.append(mc)
    if m is not None:
        pem = c.members.get(PUBKEY)
        pub = parse_public_key_pem(pem) if pem is not None else None
        checks.append(check_files(c, m))
        checks.append(check_inputs_hash(m))
        checks.append(check_lineage(c, m, pub))
        checks.append(check_period(m))
        checks.append(check_tenant(m))
    checks.append(check_quarantine(c))
    if c.deep is not None and m is not None:
        checks.extend(check_provenance(c, m))
    if keys is not None and m is not None:
        checks.extend(check_pack_transparency(c, m, keys))
    ok = all(ch.ok for ch in checks)
    return ok, checks, m, fp


def render_text(ok, checks):
    lines = []
    for ch in checks:
        lines.extend(ch.lines)
    if not ok:
        n = sum(len(ch.problems) for ch in checks)
        lines.append("%s Verification FAILED: %d problem%s" % (FAIL, n, "" if n == 1 else "s"))
    return "\n".join(lines) + "\n"


def render_json(ok, checks, m, fp, target):
    names = ("archive", "signature", "fingerprint", "manifest", "files", "inputs_hash", "key_lineage", "period", "tenant")
    by_name = dict((ch.name, ch) for ch in checks)
    out_checks = []
    for n in names:
        ch = by_name.get(n)
        if ch is None:
            out_checks.append({"name": n, "ok": False, "detail": "not checked"})
        else:
            out_checks.append({"name": n, "ok": ch.ok, "detail": ch.detail})
    for n in ("log", "witnesses", "key_history"):  # SPEC 10, when checked
        if n in by_name:
            out_checks.append({"name": n, "ok": by_name[n].ok, "detail": by_name[n].detail})
    doc = {
        "ok": ok,
        "pack": target,
        "ed25519": ED25519_BACKEND,
        "fingerprint": fp,
        "checks": out_checks,
        "problems": [{"code": code, "message": msg} for ch in checks for code, msg in ch.problems],
        "warnings": [w for ch in checks for w in ch.warnings],
    }
    for k in ("pack_id", "tenant_id", "period_start", "period_end", "generated_at", "signing_key_id"):
        doc[k] = m.get(k) if m is not None else None
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def main(argv=None):
    for s in (sys.stdout, sys.stderr):
        try:
            s.reconfigure(encoding="utf-8", errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    parser = _Parser(prog="verify.py", description="Verify a monsys evidence pack offline.", allow_abbrev=False)
    parser.add_argument("pack", help="PACK.tar.gz or the directory of an extracted pack")
    parser.add_argument("--expect-fingerprint", metavar="FP", help="the signing key fingerprint you expect (aa:bb:...)")
    parser.add_argument("--deep", action="store_true", help="also check every record against its agent's signature (SPEC 9)")
    parser.add_argument("--log-key", metavar="VKEY", help="the transparency log's verifier key (hub.json log_vkey; SPEC 10)")
    parser.add_argument("--witness-key", metavar="VKEY", action="append", default=[],
                        help="a witness's verifier key (repeat for each; hub.json witness_vkeys)")
    parser.add_argument("--witness-quorum", metavar="N", help="how many of the witnesses must have cosigned (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    try:
        args = parser.parse_args(argv)
        expected = None
        if args.expect_fingerprint is not None:
            expected = normalize_fingerprint(args.expect_fingerprint)
            if expected is None:
                raise UsageError("--expect-fingerprint: not a SHA-256 fingerprint: %r" % args.expect_fingerprint)
        quorum = None
        if args.witness_quorum is not None:
            if re.fullmatch(r"[+-]?[0-9]+", args.witness_quorum) is None or int(args.witness_quorum) < 1:
                raise UsageError("--witness-quorum: expected a positive integer, got %r" % args.witness_quorum)
            quorum = int(args.witness_quorum)
        keys = None
        if args.log_key is not None:
            keys = parse_transparency_options(args.log_key, args.witness_key, quorum)
        elif args.witness_key or quorum is not None:
            raise UsageError("--witness-key and --witness-quorum need --log-key")
    except UsageError as e:
        sys.stderr.write("usage: verify.py PACK.tar.gz|DIRECTORY [--expect-fingerprint FP] [--deep] [--log-key VKEY]"
                         " [--witness-key VKEY]... [--witness-quorum N] [--json]\nerror: %s\n" % e)
        return 2
    target = args.pack
    try:
        if os.path.isdir(target):
            c = read_directory(target, args.deep, keys is not None)
        else:
            with open(target, "rb") as f:
                c = read_archive(f, args.deep, keys is not None)
    except OSError as e:
        sys.stderr.write("error: cannot read %s: %s\n" % (target, e.strerror or e))
        return 2
    ok, checks, m, fp = verify(c, expected, keys)
    if args.json:
        sys.stdout.write(render_json(ok, checks, m, fp, target))
    else:
        sys.stdout.write(render_text(ok, checks))
    sys.stdout.flush()
    return 0 if ok else 1



# ---------------------------------------------------------------------------
# SPEC 10: the transparency/ proofs, checked against --log-key, --witness-key
# and --witness-quorum. Formats of c2sp.org: signed-note, tlog-checkpoint,
# tlog-cosignature (cosignature/v1), tlog-proof@v1, and RFC 6962 inclusion
# proofs. The Go verifier (internal/verify/transparency.go) prints the same
# lines; both run internal/verify/testdata/transparency/vectors.json.

PROOF_HEADER = b"c2sp.org/tlog-proof@v1"
ALG_ED25519, ALG_COSIGNATURE = 0x01, 0x04
MAX_COSIGN_TIME = 253402300799  # 9999-12-31T23:59:59Z
MAX_PROOF_HASHES = 63
_SIG_PREFIX = "\u2014 ".encode("utf-8")
_B64 = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HASH_B64 = re.compile(rb"[A-Za-z0-9+/]{43}=")
_INDEX = re.compile(rb"0|[1-9][0-9]{0,18}")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_HASH = re.compile(r"[0-9a-fA-F]{8}")
_FINGERPRINT = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){31}")


def note_name_ok(name):
    """A signed-note key name: non-empty, no '+', no space (Go's unicode.IsSpace)."""
    if not name or "+" in name:
        return False
    return not any(c.isspace() and c not in "\x1c\x1d\x1e\x1f" for c in name)


def note_key_hash(name, alg_key):
    return struct.unpack(">I", hashlib.sha256(name.encode("utf-8") + b"\n" + alg_key).digest()[:4])[0]


def _b64(data, pattern=_B64):
    """Standard padded base64 (bytes in), or None."""
    if pattern.fullmatch(data) is None:
        return None
    return base64.b64decode(data)


def parse_vkey(vkey, alg):
    """A c2sp.org/signed-note verifier key of algorithm alg: (name, hash, key), or None."""
    name, sep1, rest = vkey.partition("+")
    h, sep2, k64 = rest.partition("+")
    if not sep1 or not sep2 or not note_name_ok(name) or _KEY_HASH.fullmatch(h) is None:
        return None
    try:
        key = _b64(k64.encode("ascii"))
    except UnicodeEncodeError:
        return None
    if key is None or base64.b64encode(key).decode("ascii") != k64 or len(key) != 33 or key[0] != alg:
        return None
    if int(h, 16) != note_key_hash(name, key) or not ed25519_key_ok(key[1:]):
        return None
    return name, int(h, 16), key[1:]


class TransparencyKeys(object):
    def __init__(self, log, witnesses, quorum):
        self.log = log  # (name, hash, key)
        self.witnesses = witnesses  # [(name, hash, key)], in the order given
        self.quorum = quorum


def parse_transparency_options(log_key, witness_keys, quorum):
    """--log-key, --witness-key... and --witness-quorum (None or 0: all); UsageError if unusable."""
    log = parse_vkey(log_key, ALG_ED25519)
    if log is None:
        raise UsageError("--log-key %r is not an Ed25519 note verifier key" % log_key)
    seen, witnesses = set([log_key]), []
    for k in witness_keys:
        w = parse_vkey(k, ALG_COSIGNATURE)
        if w is None:
            raise UsageError("--witness-key %r is not a cosignature/v1 verifier key" % k)
        if k in seen:
            raise UsageError("key %r given twice" % k)
        seen.add(k)
        witnesses.append(w)
    q = quorum or len(witnesses)
    if q < 0 or q > len(witnesses) or (witnesses and q < 1):
        raise UsageError("--witness-quorum %s with %d witness keys" % (quorum, len(witnesses)))
    return TransparencyKeys(log, witnesses, q)


def parse_checkpoint(text):
    """c2sp.org/tlog-checkpoint text -> (origin, size, root, extension), or None."""
    if text.count("\n") < 3 or len(text) > 1000000 or not text.endswith("\n"):
        return None
    origin, size, root, rest = text.split("\n", 3)
    if _SIZE.fullmatch(size) is None or int(size) >= 2**63:
        return None
    h = _b64(root.encode("ascii", "replace"))
    if h is None or len(h) != 32:
        return None
    while rest:
        line, nl, rest = rest.partition("\n")
        if not line or not nl:
            return None
    return origin, int(size), h, text.split("\n", 3)[3]


def checkpoint_text(c):
    origin, size, root, ext = c
    return "%s\n%d\n%s\n%s" % (origin, size, base64.b64encode(root).decode("ascii"), ext)


def _verify_note_sig(key, text, sig):
    return ed25519_verify(key, text, sig)


def _verify_cosignature(key, text, sig):
    """cosignature/v1 (c2sp.org/tlog-cosignature): 8-byte time || Ed25519 signature."""
    if len(sig) != 72:
        return False
    c = parse_checkpoint(text.decode("utf-8"))
    if c is None or checkpoint_text(c).encode("utf-8") != text:
        return False
    t = struct.unpack(">Q", sig[:8])[0]
    return ed25519_verify(key, b"cosignature/v1\ntime %d\n" % t + text, sig[8:])


def open_note(msg, known):
    """c2sp.org/signed-note verification as Go's note.Open does it. known maps
    (name, hash) to a function (text, sig) -> bool. Returns ("ok", text,
    [(name, hash, sig)]), ("invalid", name), ("unverified",) or ("malformed",)."""
    try:
        s = msg.decode("utf-8")
    except UnicodeDecodeError:
        return ("malformed",)
    if any(ord(ch) < 0x20 and ch != "\n" for ch in s):
        return ("malformed",)
    split = msg.rfind(b"\n\n")
    if split < 0:
        return ("malformed",)
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith(b"\n"):
        return ("malformed",)
    seen, good, n = set(), [], 0
    for line in sigs[:-1].split(b"\n"):
        if not line.startswith(_SIG_PREFIX):
            return ("malformed",)
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(b" ")
        raw = _b64(b64) if b64 else None
        name = name.decode("utf-8")
        if raw is None or not note_name_ok(name) or len(raw) < 5:
            return ("malformed",)
        n += 1
        if n > 100:
            return ("malformed",)
        h = struct.unpack(">I", raw[:4])[0]
        verify_fn = known.get((name, h))
        if verify_fn is None or (name, h) in seen:
            continue
        seen.add((name, h))
        if not verify_fn(text, raw[4:]):
            return ("invalid", name)
        good.append((name, h, raw[4:]))
    if not good:
        return ("unverified",)
    return ("ok", text, good)


class ProofMalformed(ValueError):
    pass


def parse_proof(data):
    """c2sp.org/tlog-proof@v1 -> (extra or None, index, [hash], checkpoint bytes); ProofMalformed(reason)."""
    pos = [0]

    def line():
        i = data.find(b"\n", pos[0])
        if i < 0:
            return None
        out = data[pos[0] : i]
        pos[0] = i + 1
        return out

    if line() != PROOF_HEADER:
        raise ProofMalformed("missing header")
    l = line()
    if l is None:
        raise ProofMalformed("truncated")
    extra = None
    if l.startswith(b"extra "):
        extra = _b64(l[6:])
        if extra is None:
            raise ProofMalformed("bad extra line")
        l = line()
        if l is None:
            raise ProofMalformed("truncated")
    if not l.startswith(b"index ") or _INDEX.fullmatch(l[6:]) is None or int(l[6:]) >= 2**63:
        raise ProofMalformed("bad index line")
    index, path = int(l[6:]), []
    while True:
        l = line()
        if l is None:
            raise ProofMalformed("truncated")
        if l == b"":
            break
        if len(path) == MAX_PROOF_HASHES:
            raise ProofMalformed("too many proof hashes")
        if _HASH_B64.fullmatch(l) is None:
            raise ProofMalformed("bad proof hash")
        path.append(base64.b64decode(l))
    if pos[0] >= len(data):
        raise ProofMalformed("truncated")
    return extra, index, path, data[pos[0] :]


def split_proofs(data):
    """The proofs of a .tlog-proofs file (blank-line separated); ProofMalformed."""
    if not data:
        return []
    if not data.startswith(PROOF_HEADER + b"\n"):
        raise ProofMalformed("missing header")
    sep, out = b"\n\n" + PROOF_HEADER + b"\n", []
    while True:
        i = data.find(sep)
        if i < 0:
            return out + [data]
        out.append(data[: i + 1])
        data = data[i + 2 :]


def verify_inclusion(index, size, entry, path, root):
    """RFC 6962 inclusion of the leaf SHA-256(0x00 || entry) (RFC 9162 2.1.3.2)."""
    if index < 0 or index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + entry).digest()
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


class _Checkpoint(object):
    def __init__(self, raw, c, times):
        self.raw, self.origin, self.size, self.root = raw, c[0], c[1], c[2]
        self.times = times  # witness name -> cosignature time


def open_checkpoint(raw, keys, where):
    """(checkpoint, None, None) or (None, code, text of the failure)."""
    log_name, log_hash, log_key = keys.log
    known = {(log_name, log_hash): lambda text, sig: _verify_note_sig(log_key, text, sig)}
    for name, h, key in keys.witnesses:
        known[(name, h)] = (lambda k: lambda text, sig: _verify_cosignature(k, text, sig))(key)
    res = open_note(raw, known)
    unsigned = ("checkpoint_unsigned", "Checkpoint not signed by the log key " + log_name)
    if res[0] == "invalid":
        return None, "checkpoint_signature_invalid", "Checkpoint signature invalid: " + res[1]
    if res[0] == "unverified":
        return (None,) + unsigned
    if res[0] == "malformed":
        return None, "checkpoint_malformed", "Checkpoint malformed: " + where
    text, sigs = res[1], res[2]
    if not any(n == log_name and h == log_hash for n, h, _ in sigs):
        return (None,) + unsigned
    c = parse_checkpoint(text.decode("utf-8"))
    if c is None:
        return None, "checkpoint_malformed", "Checkpoint malformed: " + where
    if c[0] != log_name:
        return None, "checkpoint_origin", "Checkpoint of another log: " + c[0]
    times = {}
    for n, h, sig in sigs:
        for name, wh, _ in keys.witnesses:
            if n == name and h == wh:
                t = struct.unpack(">Q", sig[:8])[0]
                if t <= MAX_COSIGN_TIME:
                    times[name] = t
    return _Checkpoint(raw, c, times), None, None


def _entry_ok(e):
    """The checks of Go's tlog.Entry.Validate for the pin, unpin and pack entries."""
    if not e.get("tenant_id"):
        return False
    if e["type"] in ("pin", "unpin"):
        return bool(e.get("agent_id")) and _FINGERPRINT.fullmatch(e.get("fingerprint", "")) is not None and parse_time(e.get("at")) is not None
    if e["type"] == "pack":
        return bool(e.get("pack_id")) and _HEX64.fullmatch(e.get("manifest_sha256", "")) is not None and parse_time(e.get("generated_at")) is not None
    return False


def _entry_bytes(e):
    return canonical_json(e).encode("utf-8") if _entry_ok(e) else None


_PACK_FIELDS = ("type", "tenant_id", "pack_id", "manifest_sha256", "generated_at")


def _entry_mismatch(extra, want):
    try:
        got = strict_json(extra)
        canonical_json(got)
    except (ValueError, UnicodeDecodeError):
        got = None
    if not isinstance(got, dict):
        return "Logged entry is not a pack entry"
    diff = [f for f in _PACK_FIELDS if not isinstance(got.get(f), str) or got.get(f) != want[f]]
    if not diff:
        return "Logged entry is not this pack's: not in canonical form"
    return "Logged entry is not this pack's: " + ", ".join(diff) + (" differs" if len(diff) == 1 else " differ")


def check_pack_logged(inp, keys):
    """SPEC 10: the pack's own entry is in the log."""
    ch = Check("log")
    raw = inp.get("pack_proof")
    if raw is None:
        ch.fail("transparency_missing", "Transparency proof missing: " + PACK_PROOF)
        return ch, None
    try:
        extra, index, path, cp_raw = parse_proof(raw)
        if extra is None:
            raise ProofMalformed("no entry (extra line)")
    except ProofMalformed as e:
        ch.fail("transparency_malformed", "Transparency proof malformed: %s (%s)" % (PACK_PROOF, e))
        return ch, None
    cp, code, msg = open_checkpoint(cp_raw, keys, PACK_PROOF)
    if cp is None:
        ch.fail(code, msg)
        return ch, None
    if not verify_inclusion(index, cp.size, extra, path, cp.root):
        ch.fail("inclusion_invalid", "Inclusion proof invalid: %s (index %d, tree size %d)" % (PACK_PROOF, index, cp.size))
        return ch, cp
    want = {"type": "pack", "tenant_id": inp["tenant_id"], "pack_id": inp["pack_id"],
            "manifest_sha256": inp["manifest_sha256"], "generated_at": inp["generated_at"]}
    if _entry_bytes(want) != extra:
        ch.fail("entry_mismatch", _entry_mismatch(extra, want))
        return ch, cp
    ch.passed("Logged in %s at index %d (tree size %d)" % (cp.origin, index, cp.size))
    return ch, cp


def _utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_witnesses(inp, keys, cp):
    """SPEC 10: a quorum of the given witnesses cosigned, none before generated_at."""
    ch = Check("witnesses")
    if not keys.witnesses:
        ch.fail("no_witness_key", "No witness key given: cosignatures not checked")
        return ch
    if cp is None:
        ch.fail("not_checked", "Cosignatures not checked: the checkpoint did not verify")
        return ch
    missing = [name for name, _, _ in keys.witnesses if name not in cp.times]
    have = [cp.times[name] for name, _, _ in keys.witnesses if name in cp.times]
    n, total = len(have), len(keys.witnesses)
    if n < keys.quorum:
        ch.fail("quorum", "Cosigned by %d of %d witnesses, quorum %d not met (no cosignature from: %s)"
                % (n, total, keys.quorum, ", ".join(missing)))
        return ch
    first = min(have)
    gen = parse_time(inp["generated_at"])
    if gen is None:
        ch.fail("generated_at", "generated_at is not a valid time")
    elif int((gen - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds() // 1) > first:
        ch.fail("backdated", "generated_at %s is later than the first cosignature, %s" % (inp["generated_at"], _utc(first)))
    else:
        ch.passed("Cosigned by %d of %d witnesses (quorum %d), first at %s" % (n, total, keys.quorum, _utc(first)))
    return ch


def check_key_history(inp, keys, cp):
    """SPEC 10: every pin and unpin of the key history is in the log."""
    ch = Check("key_history")
    if cp is None:
        ch.fail("not_checked", "Key history not checked: the checkpoint did not verify")
        return ch
    if inp.get("key_history_unreadable"):
        ch.fail("key_history_unreadable", "Key history unreadable: data/agents.ndjson")
        return ch
    history = inp.get("key_history") or []
    raw, logged = inp.get("pins_proofs"), set()
    if raw is None:
        if history:
            ch.fail("transparency_missing", "Transparency proofs missing: " + PINS_PROOFS)
            return ch
    else:
        try:
            proofs = split_proofs(raw)
        except ProofMalformed:
            proofs = []
        if not proofs:
            ch.fail("transparency_malformed", "Transparency proof malformed: %s #1 (missing header)" % PINS_PROOFS)
            return ch
        for i, p in enumerate(proofs):
            where = "%s #%d" % (PINS_PROOFS, i + 1)
            try:
                extra, index, path, cp_raw = parse_proof(p)
            except ProofMalformed as e:
                ch.fail("transparency_malformed", "Transparency proof malformed: %s (%s)" % (where, e))
                continue
            if extra is None:
                ch.fail("transparency_malformed", "Transparency proof malformed: %s (no entry (extra line))" % where)
            elif cp_raw != cp.raw:
                ch.fail("checkpoint_differs", "Transparency proof against another checkpoint: " + where)
            elif not verify_inclusion(index, cp.size, extra, path, cp.root):
                ch.fail("inclusion_invalid", "Inclusion proof invalid: %s (index %d, tree size %d)" % (where, index, cp.size))
            else:
                logged.add(extra)
    pins = unpins = 0
    for e in history:
        entry = dict(e, tenant_id=inp["tenant_id"])
        b = _entry_bytes(entry) if entry.get("type") in ("pin", "unpin") else None
        if b is None or b not in logged:
            ch.fail("not_logged", "Key history not in the log: %s of %s for %s at %s"
                    % (e.get("type"), e.get("fingerprint"), e.get("agent_id"), e.get("at")))
            continue
        if e["type"] == "pin":
            pins += 1
        else:
            unpins += 1
    if ch.ok:
        ch.passed("Key history in the log (%d pin%s, %d unpin%s)"
                  % (pins, "" if pins == 1 else "s", unpins, "" if unpins == 1 else "s"))
    return ch


def check_transparency(inp, keys):
    """The three SPEC 10 checks, in the order they are printed. inp holds the
    manifest's pack_id, tenant_id and generated_at, the manifest's
    manifest_sha256, pack_proof and pins_proofs (bytes, None when missing)
    and key_history ([{type, agent_id, fingerprint, at}])."""
    lc, cp = check_pack_logged(inp, keys)
    return [lc, check_witnesses(inp, keys, cp), check_key_history(inp, keys, cp)]


def key_history_entries(agents_ndjson):
    """The pins and unpins that data/agents.ndjson's key history (SPEC 9) says
    the log holds: [{type, agent_id, fingerprint, at}]. Read as strictly as
    Go's KeyHistoryEntries: each line a JSON object without duplicate keys,
    "agent_id" a string, "signing_keys" a list of objects whose "fingerprint"
    and "pinned_at" are strings and "unpinned_at" a string or null; ValueError
    otherwise."""
    out = []
    for n, line in enumerate(agents_ndjson.split(b"\n")):
        if not line:
            continue
        try:
            a = strict_json(line)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ValueError("data/agents.ndjson line %d: not a JSON object" % (n + 1))
        if not isinstance(a, dict) or not isinstance(a.get("agent_id"), str) or not isinstance(a.get("signing_keys"), list):
            raise ValueError("data/agents.ndjson line %d: no agent_id or signing_keys" % (n + 1))
        for k in a["signing_keys"]:
            if (not isinstance(k, dict) or not isinstance(k.get("fingerprint"), str) or not isinstance(k.get("pinned_at"), str)
                    or "unpinned_at" not in k or not isinstance(k["unpinned_at"], (str, type(None)))):
                raise ValueError("data/agents.ndjson line %d: a signing key without fingerprint, pinned_at or unpinned_at" % (n + 1))
            out.append({"type": "pin", "agent_id": a["agent_id"], "fingerprint": k["fingerprint"], "at": k["pinned_at"]})
            if k["unpinned_at"] is not None:
                out.append({"type": "unpin", "agent_id": a["agent_id"], "fingerprint": k["fingerprint"], "at": k["unpinned_at"]})
    return out


class AgentsFile(object):
    """data/agents.ndjson kept as it streams by, up to MAX_AGENTS_FILE bytes,
    for the key-history check."""

    def __init__(self):
        self.lines, self.size, self.too_big = [], 0, False

    def line(self, n, line, long):
        if long or self.size + len(line) > MAX_AGENTS_FILE:
            self.too_big = True
            return
        self.lines.append(bytes(line))
        self.size += len(line) + 1


def check_pack_transparency(c, m, keys):
    """check_transparency on what was read from a pack: the manifest's
    identifiers, the SHA-256 of manifest.json's bytes, the two transparency/
    members and the key history of data/agents.ndjson."""
    inp = {"pack_id": m["pack_id"], "tenant_id": m["tenant_id"], "generated_at": m["generated_at"],
           "manifest_sha256": hashlib.sha256(c.members[MANIFEST]).hexdigest(),
           "pack_proof": c.members.get(PACK_PROOF), "pins_proofs": c.members.get(PINS_PROOFS)}
    if c.history is None or c.history.too_big:
        inp["key_history_unreadable"] = True
    else:
        try:
            inp["key_history"] = key_history_entries(b"\n".join(c.history.lines))
        except ValueError:
            inp["key_history_unreadable"] = True
    return check_transparency(inp, keys)


if __name__ == "__main__":
    sys.exit(main())
