#!/usr/bin/env python3
"""ers-verify.py: checks the RFC 4998 evidence records of a tsbag evidence package, with the
Python 3 standard library and the openssl command only, so that an auditor can check a package
decades from now without tsbag. It is written from RFC 4998 and RFC 3161 (not from tsbag's C
code): it is an independent second verifier.

For each bag listed in evidence-records.txt it:
  1. decodes evidence-record-<seq>.ers (DER; any malformed byte is named by its offset);
  2. hashes the bag's data objects (the files the line names: the bag, its eHealth token, its
     second token) with each chain's algorithm and finds them in the first partial hash tree of
     the chain's first ArchiveTimeStamp (for a hash-tree renewal chain: each object's hash
     concatenated with the hash of the older chains, RFC 4998 section 5.2 step 4);
  3. recomputes every reduced hash tree to its root (section 4.3) and compares it with the
     messageImprint of the ArchiveTimeStamp's RFC 3161 token;
  4. checks every timestamp renewal (section 5.2): its first partial hash tree holds the hash of
     the previous ArchiveTimeStamp's timeStamp field;
  5. runs `openssl ts -verify` on every token at its own genTime, then checks that each
     ArchiveTimeStamp's TSA certificate was still valid when the next one was made, and that the
     latest one's is valid at the verification time (--at, default now);
  6. runs `openssl ts -verify` on the bag's eHealth token over the bag.

Exit status: 0 every record holds; 1 some record does not (its line says which check and why);
2 usage, the package cannot be read, or it lists no record for a bag asked for (or none at all).
"""
import argparse
import binascii
import calendar
import datetime
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

OID_ALG = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"


class Invalid(Exception):
    """The evidence does not hold: kind is one word (format, object, root, ...)."""

    def __init__(self, kind, msg):
        Exception.__init__(self, msg)
        self.kind = kind


# ---- DER (X.690), strict: definite lengths, minimal length octets ---------------------------


class Tlv:
    def __init__(self, buf, off, tag, start, end):
        self.buf, self.off, self.tag, self.start, self.end = buf, off, tag, start, end

    @property
    def constructed(self):
        return self.tag & 0x20 != 0

    def der(self):
        return self.buf[self.off : self.end]

    def value(self):
        return self.buf[self.start : self.end]

    def children(self):
        out, pos = [], self.start
        while pos < self.end:
            t = read_tlv(self.buf, pos, self.end)
            out.append(t)
            pos = t.end
        return out


def read_tlv(buf, off, limit):
    if off + 2 > limit:
        raise Invalid("format", "malformed DER at offset %d: truncated header" % off)
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise Invalid("format", "malformed DER at offset %d: multi-byte tags are not used" % off)
    n = buf[off + 1]
    pos = off + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise Invalid("format", "malformed DER at offset %d: indefinite or huge length" % off)
        if pos + k > limit:
            raise Invalid("format", "malformed DER at offset %d: truncated length" % off)
        n = int.from_bytes(buf[pos : pos + k], "big")
        if buf[pos] == 0 or n < 0x80:
            raise Invalid("format", "malformed DER at offset %d: length not minimal" % off)
        pos += k
    if pos + n > limit:
        raise Invalid(
            "format",
            "malformed DER at offset %d: the element needs %d bytes, %d remain"
            % (off, n, limit - pos),
        )
    return Tlv(buf, off, tag, pos, pos + n)


def expect(t, tag, what):
    if t.tag != tag:
        raise Invalid(
            "format",
            "malformed DER at offset %d: %s: tag 0x%02x, expected 0x%02x"
            % (t.off, what, t.tag, tag),
        )
    return t


def oid_text(t):
    v = t.value()
    if not v:
        raise Invalid("format", "malformed DER at offset %d: empty OID" % t.off)
    parts, n = [], 0
    for b in v:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(x) for x in [first, parts[0] - 40 * first] + parts[1:])


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_seq(content):
    return b"\x30" + der_len(len(content)) + content


def gentime(t):
    """GeneralizedTime or UTCTime -> epoch seconds (float; fractions kept)."""
    s = t.value().decode("ascii")
    if t.tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        yy = int(s[0:2])
        s = ("19" if yy >= 50 else "20") + s
    m = re.fullmatch(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z", s)
    if not m:
        raise Invalid("format", "malformed time at offset %d: %r" % (t.off, s))
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    frac = float(m.group(7)) if m.group(7) else 0.0
    return calendar.timegm((y, mo, d, h, mi, se)) + frac


def utc(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


# ---- RFC 4998 structures (IMPLICIT TAGS) ----------------------------------------------------


class Ats:
    """ArchiveTimeStamp ::= SEQUENCE { digestAlgorithm [0] AlgorithmIdentifier OPTIONAL,
    attributes [1] Attributes OPTIONAL, reducedHashtree [2] SEQUENCE OF PartialHashtree
    OPTIONAL, timeStamp ContentInfo }"""

    def __init__(self, t):
        self.off = t.off
        self.alg_oid = None
        self.lists = None
        kids = expect(t, 0x30, "ArchiveTimeStamp").children()
        if not kids:
            raise Invalid("format", "malformed DER at offset %d: empty ArchiveTimeStamp" % t.off)
        for k in kids[:-1]:
            if k.tag == 0xA0 and self.alg_oid is None and self.lists is None:
                self.alg_oid = oid_text(expect(k.children()[0], 0x06, "digestAlgorithm"))
            elif k.tag == 0xA1 and self.lists is None:
                pass  # attributes: not interpreted
            elif k.tag == 0xA2 and self.lists is None:
                self.lists = []
                for p in k.children():
                    vals = [
                        expect(h, 0x04, "hash value").value()
                        for h in expect(p, 0x30, "PartialHashtree").children()
                    ]
                    if not vals:
                        raise Invalid(
                            "format", "malformed DER at offset %d: empty PartialHashtree" % p.off
                        )
                    self.lists.append(vals)
            else:
                raise Invalid(
                    "format",
                    "malformed DER at offset %d: unexpected field 0x%02x in ArchiveTimeStamp"
                    % (k.off, k.tag),
                )
        self.token_tlv = expect(kids[-1], 0x30, "timeStamp")
        self.token = self.token_tlv.der()
        self.tst = TstInfo(self.token_tlv)
        # the tree's algorithm: the digestAlgorithm field, else the token's imprint algorithm
        oid = self.alg_oid or self.tst.imprint_oid
        if oid not in OID_ALG:
            raise Invalid(
                "algorithm",
                "the ArchiveTimeStamp at offset %d uses the hash algorithm %s, which this script does not know"
                % (t.off, oid),
            )
        self.alg = OID_ALG[oid]
        if self.tst.imprint_oid != oid:
            raise Invalid(
                "algorithm",
                "the ArchiveTimeStamp at offset %d names %s but its token's imprint is %s"
                % (t.off, oid, self.tst.imprint_oid),
            )


class TstInfo:
    """The TSTInfo inside a timeStamp ContentInfo (RFC 3161 section 2.4.2), and the token's
    certificates and signer identifier, to find the signer's notAfter."""

    def __init__(self, ci):
        kids = ci.children()
        if len(kids) != 2 or oid_text(expect(kids[0], 0x06, "contentType")) != OID_SIGNED_DATA:
            raise Invalid(
                "format",
                "malformed DER at offset %d: the timeStamp is not a CMS SignedData" % ci.off,
            )
        sd = expect(expect(kids[1], 0xA0, "content").children()[0], 0x30, "SignedData").children()
        eci = expect(sd[2], 0x30, "encapContentInfo").children()
        if oid_text(eci[0]) != OID_TST_INFO:
            raise Invalid(
                "format", "malformed DER at offset %d: the SignedData holds no TSTInfo" % sd[2].off
            )
        octets = expect(expect(eci[1], 0xA0, "eContent").children()[0], 0x04, "eContent")
        tst = expect(read_tlv(octets.buf, octets.start, octets.end), 0x30, "TSTInfo").children()
        mi = expect(tst[2], 0x30, "messageImprint").children()
        self.imprint_oid = oid_text(expect(mi[0], 0x30, "hashAlgorithm").children()[0])
        self.imprint = expect(mi[1], 0x04, "hashedMessage").value()
        self.serial = int.from_bytes(tst[3].value(), "big", signed=True)
        self.gen_time = gentime(expect(tst[4], 0x18, "genTime"))
        self.certs = (
            [c.der() for c in sd[3].children()] if len(sd) > 4 and sd[3].tag == 0xA0 else []
        )
        signer = expect(sd[-1], 0x31, "signerInfos").children()[0].children()
        self.sid = signer[1]  # issuerAndSerialNumber (SEQUENCE) or subjectKeyIdentifier [0]


def cert_fields(der):
    """(issuer DER, serial, notAfter epoch, subject key identifier or None) of a certificate."""
    tbs = read_tlv(der, 0, len(der)).children()[0].children()
    i = 1 if tbs[0].tag == 0xA0 else 0
    serial = int.from_bytes(tbs[i].value(), "big", signed=True)
    issuer = tbs[i + 2].der()
    not_after = gentime(tbs[i + 3].children()[1])
    ski = None
    for k in tbs[i + 6 :]:
        if k.tag == 0xA3:
            for ext in k.children()[0].children():
                e = ext.children()
                if oid_text(e[0]) == "2.5.29.14":
                    ski = read_tlv(e[-1].buf, e[-1].start, e[-1].end).value()
    return issuer, serial, not_after, ski


def signer_not_after(tst, extra_certs):
    """notAfter of the token's signer certificate, from the token or the package's files."""
    sid = tst.sid
    for der in tst.certs + extra_certs:
        try:
            issuer, serial, not_after, ski = cert_fields(der)
        except (Invalid, IndexError):
            continue
        if sid.tag == 0x30:
            iss, ser = sid.children()
            if iss.der() == issuer and int.from_bytes(ser.value(), "big", signed=True) == serial:
                return not_after
        elif sid.tag == 0x80 and ski == sid.value():
            return not_after
    return None


def parse_record(der):
    """EvidenceRecord ::= SEQUENCE { version INTEGER { v1(1) }, digestAlgorithms SEQUENCE OF
    AlgorithmIdentifier, cryptoInfos [0] OPTIONAL, encryptionInfo [1] OPTIONAL,
    archiveTimeStampSequence ArchiveTimeStampSequence } -> (list of chains of Ats, list of the
    chains' DER)."""
    top = read_tlv(der, 0, len(der))
    if top.end != len(der):
        raise Invalid(
            "format",
            "malformed DER at offset %d: %d bytes after the EvidenceRecord"
            % (top.end, len(der) - top.end),
        )
    kids = expect(top, 0x30, "EvidenceRecord").children()
    if len(kids) < 3 or expect(kids[0], 0x02, "version").value() != b"\x01":
        raise Invalid("format", "malformed DER at offset 0: not an EvidenceRecord version 1")
    expect(kids[1], 0x30, "digestAlgorithms")
    seq = expect(kids[-1], 0x30, "ArchiveTimeStampSequence")
    chains, chain_ders = [], []
    for c in seq.children():
        chains.append([Ats(a) for a in expect(c, 0x30, "ArchiveTimeStampChain").children()])
        chain_ders.append(c.der())
        if not chains[-1]:
            raise Invalid(
                "format", "malformed DER at offset %d: empty ArchiveTimeStampChain" % c.off
            )
    if not chains:
        raise Invalid("format", "malformed DER at offset %d: no ArchiveTimeStampChain" % seq.off)
    return chains, chain_ders


# ---- hash trees (RFC 4998 section 4) --------------------------------------------------------


def H(alg, data):
    return hashlib.new(alg, data).digest()


def node(alg, values):
    """A father node: the hash of its children sorted in binary ascending order, concatenated."""
    return H(alg, b"".join(sorted(values)))


def root_of(ats, leaf):
    """Section 4.3 step 3: hash the first list, add the result to the next list, and so on."""
    if not ats.lists:
        return leaf
    h = node(ats.alg, ats.lists[0])
    for lst in ats.lists[1:]:
        h = node(ats.alg, lst + [h])
    return h


def where(c, a):
    return "chain %d, ArchiveTimeStamp %d" % (c + 1, a + 1)


def check_first_list(ats, c, a, hashes, names):
    """Each object's hash is in the first partial hash tree; for a group (two objects or more)
    that list holds exactly the group's hashes."""
    first = ats.lists[0] if ats.lists else None
    for h, name in zip(hashes, names):
        if first is None:
            if len(hashes) > 1 or h != ats.tst.imprint:
                raise Invalid(
                    "object",
                    "%s: %s has no hash tree and its imprint is not the %s of %s"
                    % (where(c, a), where(c, a), ats.alg, name),
                )
        elif h not in first:
            raise Invalid(
                "object",
                "%s: the %s of %s (%s) is not in its first partial hash tree"
                % (where(c, a), ats.alg, name, h.hex()),
            )
    if first is not None and len(hashes) > 1 and sorted(first) != sorted(hashes):
        raise Invalid(
            "group",
            "%s: its first partial hash tree holds %d hash values, the %d data objects of the bag's group are %s"
            % (where(c, a), len(first), len(hashes), ", ".join(names)),
        )


def check_root(ats, c, a, leaf):
    r = root_of(ats, leaf)
    if r != ats.tst.imprint:
        raise Invalid(
            "root",
            "%s: the root computed from its reduced hash tree, %s, differs from its token's messageImprint %s"
            % (where(c, a), r.hex(), ats.tst.imprint.hex()),
        )


def check_trees(chains, chain_ders, objects, names):
    for c, chain in enumerate(chains):
        alg = chain[0].alg
        for a, ats in enumerate(chain):
            if ats.alg != alg:
                raise Invalid(
                    "algorithm",
                    "%s uses %s, the chain's first ArchiveTimeStamp %s"
                    % (where(c, a), ats.alg, alg),
                )
        hashes = [H(alg, o) for o in objects]
        if c > 0:
            # hash-tree renewal: h' = H(h(d) + ha), ha the hash of the older chains' sequence.
            # Section 5.2 step 4 writes the pair in that order; its Figure 4 sorts it: a value in
            # either form is accepted.
            ha = H(alg, der_seq(b"".join(chain_ders[:c])))
            first = chain[0].lists[0] if chain[0].lists else [chain[0].tst.imprint]
            hashes = [
                H(alg, h + ha) if H(alg, h + ha) in first else node(alg, [h, ha]) for h in hashes
            ]
        check_first_list(chain[0], c, 0, hashes, names)
        leaf = hashes[0] if len(hashes) == 1 else node(alg, hashes)
        check_root(chain[0], c, 0, leaf)
        for a in range(1, len(chain)):
            prev = H(alg, chain[a - 1].token)  # section 5.2: the previous timeStamp field
            ats = chain[a]
            if (ats.lists and prev not in ats.lists[0]) or (
                not ats.lists and prev != ats.tst.imprint
            ):
                raise Invalid(
                    "renewal",
                    "%s does not cover the timeStamp of the ArchiveTimeStamp before it (its first partial hash tree lacks %s)"
                    % (where(c, a), prev.hex()),
                )
            check_root(ats, c, a, prev)


# ---- tokens, with openssl ---------------------------------------------------------------------


class Openssl:
    def __init__(self, exe, anchors, certs, tmp):
        self.exe, self.anchors, self.certs, self.tmp = exe, anchors, certs, tmp

    def ts_verify(self, token, at, digest=None, data=None, anchors=None, certs=None):
        """openssl ts -verify of a DER token at time at; returns (ok, openssl's last words)."""
        path = os.path.join(self.tmp, "token.der")
        with open(path, "wb") as f:
            f.write(token)
        cmd = [
            self.exe,
            "ts",
            "-verify",
            "-in",
            path,
            "-token_in",
            "-CAfile",
            anchors or self.anchors,
        ]
        cmd += ["-attime", str(int(at))]
        if certs or self.certs:
            cmd += ["-untrusted", certs or self.certs]
        cmd += ["-digest", digest.hex()] if digest is not None else ["-data", data]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode("utf-8", "replace")
        ok = p.returncode == 0 and "Verification: OK" in out
        # openssl's reason is its error line (before "Verification: FAILED"), after its
        # source position: "...ts_rsp_verify.c:188:Verify error:self-signed certificate ..."
        errs = [l.strip() for l in out.splitlines() if "error" in l.lower()]
        fails = [l.strip() for l in out.splitlines() if "fail" in l.lower()]
        why = errs or fails
        if not why:
            return ok, out.strip().splitlines()[-1] if out.strip() else "no output"
        return ok, re.sub(r"^.*\.c:\d+:", "", why[-1])


def check_tokens(chains, ossl, extra_certs, at):
    flat = [(c, a, ats) for c, chain in enumerate(chains) for a, ats in enumerate(chain)]
    for c, a, ats in flat:
        ok, why = ossl.ts_verify(ats.token, ats.tst.gen_time, digest=ats.tst.imprint)
        if not ok:
            raise Invalid(
                "token",
                "%s: its token (serial %d, genTime %s) fails openssl ts -verify at its genTime: %s"
                " (the trust anchors %s must be the archive timestamps' TSA's root, obtained from"
                " that TSA: give it with --anchors FILE)"
                % (where(c, a), ats.tst.serial, utc(ats.tst.gen_time), why, ossl.anchors),
            )
    for (c0, a0, p), (c1, a1, n) in zip(flat, flat[1:]):
        if n.tst.gen_time < p.tst.gen_time:
            raise Invalid(
                "order",
                "%s was made at %s, before %s (%s)"
                % (where(c1, a1), utc(n.tst.gen_time), where(c0, a0), utc(p.tst.gen_time)),
            )
        na = signer_not_after(p.tst, extra_certs)
        if na is not None and n.tst.gen_time > na:
            raise Invalid(
                "late",
                "%s was made at %s, after the TSA certificate of %s expired (notAfter %s): the renewal came too late"
                % (where(c1, a1), utc(n.tst.gen_time), where(c0, a0), utc(na)),
            )
        ok, why = ossl.ts_verify(p.token, n.tst.gen_time, digest=p.tst.imprint)
        if not ok:
            raise Invalid(
                "late",
                "%s: its TSA certificate was no longer valid when %s was made (%s): %s"
                % (where(c0, a0), where(c1, a1), utc(n.tst.gen_time), why),
            )
    c, a, last = flat[-1]
    if last.tst.gen_time > at:
        raise Invalid(
            "future",
            "%s was made at %s, after the verification time %s"
            % (where(c, a), utc(last.tst.gen_time), utc(at)),
        )
    na = signer_not_after(last.tst, extra_certs)
    ok, why = ossl.ts_verify(last.token, at, digest=last.tst.imprint)
    if not ok or (na is not None and at > na):
        raise Invalid(
            "expired",
            "the latest ArchiveTimeStamp (%s, made %s) has a TSA certificate that is not valid at %s%s: the record was not renewed in time (%s)"
            % (
                where(c, a),
                utc(last.tst.gen_time),
                utc(at),
                " (notAfter %s)" % utc(na) if na else "",
                why,
            ),
        )
    return flat[0][2].tst.gen_time, last.tst.gen_time, na


def pem_certs(path):
    if not path or not os.path.exists(path):
        return []
    text = open(path, encoding="ascii", errors="replace").read()
    return [
        binascii.a2b_base64("".join(b.split()))
        for b in re.findall(
            r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S
        )
    ]


def parse_at(s):
    if s is None:
        return time.time()
    if re.fullmatch(r"\d+", s):
        return int(s) / 1000.0  # milliseconds since 1970, as tsbag verify --at takes them
    for fmt in (
        "%Y-%m-%d",
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ):
        try:
            return calendar.timegm(time.strptime(s, fmt))
        except ValueError:
            pass
    raise SystemExit(
        "ers-verify.py: --at %r: give YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or milliseconds since 1970"
        % s
    )


def dump(chains, objects, names):
    for c, chain in enumerate(chains):
        for a, ats in enumerate(chain):
            print(
                "  %s at offset %d: %s, genTime %s, serial %d, imprint %s"
                % (
                    where(c, a),
                    ats.off,
                    ats.alg,
                    utc(ats.tst.gen_time),
                    ats.tst.serial,
                    ats.tst.imprint.hex(),
                )
            )
            for i, lst in enumerate(ats.lists or []):
                print("    partial hash tree %d: %s" % (i + 1, " ".join(h.hex() for h in lst)))


def verify_one(pkg, seq, files, ossl, extra_certs, at, show):
    er_path = os.path.join(pkg, files[0])
    der = open(er_path, "rb").read()
    objects = [open(os.path.join(pkg, f), "rb").read() for f in files[1:]]
    try:
        chains, chain_ders = parse_record(der)
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        # a well-formed DER element where the ASN.1 wants another shape
        raise Invalid("format", "malformed record: not an RFC 4998 EvidenceRecord (%s)" % e)
    if show:
        dump(chains, objects, files[1:])
    check_trees(chains, chain_ders, objects, files[1:])
    first, last, na = check_tokens(chains, ossl, extra_certs, at)
    # the eHealth token over the bag: what the record preserves must itself have been valid
    token = objects[1]
    ok, why = ossl.ts_verify(
        token,
        first,
        data=os.path.join(pkg, files[1]),
        anchors=os.path.join(pkg, "tsa-anchor.pem"),
        certs=os.path.join(pkg, "chain-%s.pem" % seq),
    )
    if not ok:
        raise Invalid(
            "token",
            "%s: the eHealth token does not verify over %s at the first ArchiveTimeStamp's time %s: %s"
            % (files[2], files[1], utc(first), why),
        )
    n = sum(len(ch) for ch in chains)
    return "%d ArchiveTimeStamp%s in %d chain%s, from %s to %s; renew before %s" % (
        n,
        "" if n == 1 else "s",
        len(chains),
        "" if len(chains) == 1 else "s",
        utc(first),
        utc(last),
        utc(na) if na else "(notAfter unknown)",
    )


def main():
    ap = argparse.ArgumentParser(
        description="Checks the RFC 4998 evidence records of a tsbag evidence package (Python standard library and openssl only)."
    )
    ap.add_argument("package", help="the package folder")
    ap.add_argument("seq", nargs="*", help="bag SequenceNumbers to check (default: all)")
    ap.add_argument(
        "--at",
        help="verification time: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or milliseconds since 1970 (default now)",
    )
    ap.add_argument(
        "--anchors",
        help="trust anchors of the archive timestamps' TSA, PEM (default the package's ers-tsa-anchor.pem: compare its fingerprint with the one the TSA publishes)",
    )
    ap.add_argument("--openssl", default="openssl", help="the openssl command")
    ap.add_argument(
        "--dump", action="store_true", help="print each ArchiveTimeStamp and its partial hash trees"
    )
    args = ap.parse_intermixed_args()
    pkg = args.package
    at = parse_at(args.at)
    listing = os.path.join(pkg, "evidence-records.txt")
    try:
        lines = [
            l.split()
            for l in open(listing, encoding="utf-8")
            if l.strip() and not l.startswith("#")
        ]
    except OSError as e:
        print(
            "ers-verify.py: cannot read %s: %s (a package written before evidence records has none)"
            % (listing, e.strerror),
            file=sys.stderr,
        )
        return 2
    listed = [f[0] for f in lines]
    unknown = [q for q in args.seq if q not in listed]
    if unknown or not listed:
        # exit 0 means that every record asked for holds: never for a record that is not there
        print(
            "ers-verify.py: %s lists no evidence record for %s: check the bag SequenceNumbers "
            "(the package's bag-N.xml files), or export the package again after tsbag renew "
            "has covered those bags"
            % (listing, "bag " + ", ".join(unknown) if unknown else "any bag"),
            file=sys.stderr,
        )
        return 2
    anchors = args.anchors or os.path.join(pkg, "ers-tsa-anchor.pem")
    certs = os.path.join(pkg, "ers-tsa-certs.pem")
    extra = pem_certs(certs)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        ossl = Openssl(args.openssl, anchors, certs if extra else None, tmp)
        for fields in lines:
            seq, files = fields[0], fields[1:]
            if args.seq and seq not in args.seq:
                continue
            if len(files) < 3:
                print(
                    "ers-verify.py: %s: line for bag %s names no record and data objects"
                    % (listing, seq),
                    file=sys.stderr,
                )
                return 2
            try:
                what = verify_one(pkg, seq, files, ossl, extra, at, args.dump)
                print("%s: VALID at %s: %s" % (files[0], utc(at), what))
            except Invalid as e:
                bad += 1
                print("%s: INVALID (%s): %s" % (files[0], e.kind, e))
            except OSError as e:
                print(
                    "ers-verify.py: bag %s: cannot read %s: %s" % (seq, e.filename, e.strerror),
                    file=sys.stderr,
                )
                return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
