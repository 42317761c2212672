#!/usr/bin/env python3
"""ers_check.py: an independent reading of RFC 4998 for unit.ers, written from the RFC with
hashlib and a few lines of DER, sharing nothing with src/core/ers.c.

  ers_check.py tree N          prints the SHA-256 root of a tree over the leaves
                               SHA-256(b"leaf <i>"), i = 0..N-1 (pairs in order, an odd last
                               node carried up unchanged, each pair hashed sorted)
  ers_check.py record ER OBJ.. checks every ArchiveTimeStamp of the EvidenceRecord file ER for the
                               data object files OBJ (a group when more than one): the objects (or
                               the previous timeStamp's hash) in the first list, the reduced tree
                               walked to the token's messageImprint; prints "ok CHAINS ATS"
Signatures and certificates are not checked here (openssl does that in the test).
"""
import hashlib
import sys

OIDS = {
    bytes.fromhex("608648016503040201"): "sha256",
    bytes.fromhex("608648016503040202"): "sha384",
    bytes.fromhex("608648016503040203"): "sha512",
}


def tlv(b, i):
    """(tag, contents start, contents end, element end) of the DER element at b[i]."""
    tag = b[i]
    n = b[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[j:j + k], "big")
        j += k
    return tag, j, j + n, j + n


def children(b, start, end):
    out = []
    i = start
    while i < end:
        t = tlv(b, i)
        out.append((t[0], i, t[1], t[2]))
        i = t[3]
    return out


def node(h, values):
    return hashlib.new(h, b"".join(sorted(values))).digest()


def tree_root(leaves, h):
    level = list(leaves)
    while len(level) > 1:
        nxt = [node(h, level[k:k + 2]) for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def imprint(b, s, e):
    """messageImprint (algorithm name, bytes) of a ContentInfo holding a SignedData/TSTInfo."""
    ci = children(b, s, e)  # contentType, [0] content
    sd = children(b, ci[1][2], ci[1][3])[0]
    sdf = children(b, sd[2], sd[3])  # version, digestAlgorithms, encapContentInfo, ...
    eci = children(b, sdf[2][2], sdf[2][3])
    octs = children(b, eci[1][2], eci[1][3])[0]
    tst = children(b, octs[2], octs[3])[0]
    mi = children(b, tst[2], tst[3])[2]
    alg, msg = children(b, mi[2], mi[3])
    oid = children(b, alg[2], alg[3])[0]
    return OIDS.get(bytes(b[oid[2]:oid[3]]), "?"), bytes(b[msg[2]:msg[3]])


def check_record(path, objs):
    b = open(path, "rb").read()
    er = children(b, *tlv(b, 0)[1:3])
    assert er[0][0] == 0x02 and b[er[0][2]:er[0][3]] == b"\x01", "version is not 1"
    seq = er[-1]
    chains = children(b, seq[2], seq[3])
    n_ats = 0
    for k, chain in enumerate(chains):
        prev_ts = None
        for j, ats in enumerate(children(b, chain[2], chain[3])):
            f = children(b, ats[2], ats[3])
            assert f[0][0] == 0xA0, "digestAlgorithm [0] missing"
            h = OIDS[bytes(b[children(b, f[0][2], f[0][3])[0][2]:children(b, f[0][2], f[0][3])[0][3]])]
            lists = []
            for x in f:
                if x[0] == 0xA2:
                    lists = [[bytes(b[o[2]:o[3]]) for o in children(b, l[2], l[3])]
                             for l in children(b, x[2], x[3])]
            ts = f[-1]
            if j == 0:
                mine = [hashlib.new(h, o).digest() for o in objs]
                if k > 0:
                    prior = b"".join(b[c[1]:c[3]] for c in chains[:k])
                    ln = len(prior)
                    hdr = bytes([0x30, ln]) if ln < 128 else \
                        bytes([0x30, 0x80 | ((ln.bit_length() + 7) // 8)]) + \
                        ln.to_bytes((ln.bit_length() + 7) // 8, "big")
                    ha = hashlib.new(h, hdr + prior).digest()
                    mine = [hashlib.new(h, m + ha).digest() for m in mine]
            else:
                mine = [hashlib.new(h, b[prev_ts[1]:prev_ts[3]]).digest()]
            if lists:
                for m in mine:
                    assert m in lists[0], "chain %d ats %d: object hash not in first list" % (k, j)
                if len(mine) > 1:
                    assert sorted(mine) == sorted(lists[0]), "group is not the first list"
                cur = node(h, lists[0])
                for l in lists[1:]:
                    cur = node(h, l + [cur])
            else:
                cur = mine[0] if len(mine) == 1 else node(h, mine)
            alg, imp = imprint(b, ts[2], ts[3])
            assert alg == h and imp == cur, "chain %d ats %d: root %s, imprint %s %s" % (
                k, j, cur.hex(), alg, imp.hex())
            prev_ts = ts
            n_ats += 1
    print("ok %d %d" % (len(chains), n_ats))


def main():
    if sys.argv[1] == "tree":
        n = int(sys.argv[2])
        leaves = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(n)]
        print(tree_root(leaves, "sha256").hex())
    elif sys.argv[1] == "record":
        check_record(sys.argv[2], [open(p, "rb").read() for p in sys.argv[3:]])
    else:
        sys.exit("usage: ers_check.py tree N | record ER OBJ...")


if __name__ == "__main__":
    main()
