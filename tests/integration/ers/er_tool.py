#!/usr/bin/env python3
"""er_tool.py: builds and edits RFC 4998 evidence records for the tests, from the RFC's ASN.1
(IMPLICIT TAGS) with the standard library only, so that the tests can make a record by hand
(to test tools/ers-verify.py without the archive) and tamper with a real one: drop or replace an
ArchiveTimeStamp, change a byte of a hash value, truncate.

  er_tool.py tree ALG OUTDIR GROUP...     GROUP is FILE[,FILE...]: the data objects of one group.
                                          Writes OUTDIR/rht-<i>.der (the reduced hash tree of
                                          group i, from 1) and prints the root in hex.
  er_tool.py ats ALG TOKEN [RHT] >OUT     an ArchiveTimeStamp over a token (and a reduced tree)
  er_tool.py record CHAIN... >OUT         CHAIN is ATS[,ATS...] (files): an EvidenceRecord
  er_tool.py hash ALG FILE                H(FILE) in hex
  er_tool.py token ER CHAIN ATS >OUT      the timeStamp (token DER) of ATS in CHAIN (from 1)
  er_tool.py drop ER CHAIN ATS >OUT       the record without that ArchiveTimeStamp
  er_tool.py replace ER CHAIN ATS NEW >OUT  that ArchiveTimeStamp replaced by the file NEW
  er_tool.py flip-hash ER CHAIN ATS LIST INDEX >OUT  one bit of that hash value flipped
"""
import hashlib
import sys

OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}


def dlen(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + dlen(len(content)) + content


def oid(text):
    p = [int(x) for x in text.split(".")]
    out = bytearray([40 * p[0] + p[1]])
    for v in p[2:]:
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def parse(buf, off=0):
    """(tag, content start, end) of the element at off (the inputs here are well-formed)."""
    tag, n, pos = buf[off], buf[off + 1], off + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    return tag, pos, pos + n


def kids(buf, start, end):
    out = []
    while start < end:
        t, s, e = parse(buf, start)
        out.append((start, t, s, e))
        start = e
    return out


def H(alg, data):
    return hashlib.new(alg, data).digest()


def node(alg, values):
    return H(alg, b"".join(sorted(values)))


def tree(alg, groups):
    """Leaves: each group's leaf (the member hash, or H(sorted members)); pairs (0,1), (2,3) ...;
    an odd last node is carried up. Returns (root, reduced trees as lists of lists)."""
    members = [[H(alg, open(f, "rb").read()) for f in g] for g in groups]
    level = [m[0] if len(m) == 1 else node(alg, m) for m in members]
    paths = [[m] if len(m) > 1 else [] for m in members]
    pos = list(range(len(level)))
    while len(level) > 1:
        for i in range(len(groups)):
            p = pos[i]
            sib = p ^ 1
            if sib < len(level):
                if not paths[i]:
                    paths[i].append(sorted([level[p], level[sib]]))
                else:
                    paths[i].append([level[sib]])
            pos[i] = p // 2
        level = [
            node(alg, level[j : j + 2]) if j + 1 < len(level) else level[j]
            for j in range(0, len(level), 2)
        ]
    return level[0], paths


def rht_der(lists):
    return tlv(0x30, b"".join(tlv(0x30, b"".join(tlv(0x04, h) for h in sorted(l))) for l in lists))


def ats(alg, token, rht=None):
    body = tlv(0xA0, oid(OIDS[alg]))
    if rht:
        t, s, e = parse(rht)
        if e > s:
            body += tlv(0xA2, rht[s:e])
    return tlv(0x30, body + token)


def record(chains):
    algs = []
    for chain in chains:
        for a in chain:
            _, s, e = parse(a)
            _, t, ks, ke = kids(a, s, e)[0]
            alg = tlv(0x30, a[ks:ke])
            if t == 0xA0 and alg not in algs:
                algs.append(alg)
    seq = tlv(0x30, b"".join(tlv(0x30, b"".join(c)) for c in chains))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x30, b"".join(algs)) + seq)


def chains_of(er):
    _, s, e = parse(er)
    top = kids(er, s, e)
    _, _, ss, se = top[-1]
    return [[er[o:ae] for (o, _, _, ae) in kids(er, cs, ce)] for (_, _, cs, ce) in kids(er, ss, se)]


def main(argv):
    cmd = argv[1]
    out = sys.stdout.buffer
    if cmd == "tree":
        alg, outdir = argv[2], argv[3]
        root, paths = tree(alg, [g.split(",") for g in argv[4:]])
        for i, p in enumerate(paths):
            open("%s/rht-%d.der" % (outdir, i + 1), "wb").write(rht_der(p))
        print(root.hex())
    elif cmd == "ats":
        rht = open(argv[4], "rb").read() if len(argv) > 4 else None
        out.write(ats(argv[2], open(argv[3], "rb").read(), rht))
    elif cmd == "record":
        out.write(record([[open(f, "rb").read() for f in c.split(",")] for c in argv[2:]]))
    elif cmd == "hash":
        print(H(argv[2], open(argv[3], "rb").read()).hex())
    else:
        er = open(argv[2], "rb").read()
        chains = chains_of(er)
        c, a = int(argv[3]) - 1, int(argv[4]) - 1
        if cmd == "token":
            x = chains[c][a]
            _, s, e = parse(x)
            o, _, _, ke = kids(x, s, e)[-1]
            out.write(x[o:ke])
            return 0
        if cmd == "drop":
            del chains[c][a]
        elif cmd == "replace":
            chains[c][a] = open(argv[5], "rb").read()
        elif cmd == "flip-hash":
            x = bytearray(chains[c][a])
            _, s, e = parse(x)
            rht = [k for k in kids(x, s, e) if k[1] == 0xA2][0]
            lst = kids(x, rht[2], rht[3])[int(argv[5]) - 1]
            h = kids(x, lst[2], lst[3])[int(argv[6]) - 1]
            x[h[2]] ^= 0x01
            chains[c][a] = bytes(x)
        out.write(record([ch for ch in chains if ch]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
