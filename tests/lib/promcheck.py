#!/usr/bin/env python3
"""Strict checker of the Prometheus text exposition format 0.0.4, for tsbagd's /metrics.

usage: promcheck.py FILE   exits 1 naming the line at the first violation; otherwise prints one
                           canonical line per sample: name{k="v",...} value (labels sorted).

Rules checked: every line is a HELP, a TYPE or a sample; metric and label names are valid; label
values use only the \\\\, \\" and \\n escapes; a family has at most one HELP and one TYPE, its
TYPE comes before its samples, its samples are contiguous; no series appears twice; counters end
in _total and are >= 0; a histogram has name_bucket samples with an le label in increasing order,
cumulative counts, a +Inf bucket equal to name_count, and a name_sum; the text ends in a newline.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise Bad("value %r is not a number" % s)
    return float(s)


def parse_labels(s, i):
    """Parses {k="v",...} from s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad("bad label name at column %d" % (i + 1))
        name = m.group(0)
        i = m.end()
        if s[i : i + 2] != '="':
            raise Bad("label %s: expected =\"" % name)
        i += 2
        v = []
        while True:
            if i >= len(s):
                raise Bad("label %s: unterminated value" % name)
            c = s[i]
            if c == "\\":
                e = s[i + 1 : i + 2]
                if e not in ("\\", '"', "n"):
                    raise Bad("label %s: bad escape \\%s" % (name, e))
                v.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad("label %s: raw newline" % name)
            else:
                v.append(c)
                i += 1
        if name in labels:
            raise Bad("label %s repeated" % name)
        labels[name] = "".join(v)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise Bad("expected , or } after label %s" % name)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def check(text):
    if not text.endswith("\n"):
        raise Bad("the text does not end in a newline")
    helps, types, seen, done, samples = set(), {}, set(), set(), []
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        try:
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                    raise Bad("a comment that is neither HELP nor TYPE")
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise Bad("bad metric name %r" % name)
                if name in done:
                    raise Bad("%s %s after its samples ended" % (parts[1], name))
                if parts[1] == "HELP":
                    if name in helps:
                        raise Bad("second HELP for %s" % name)
                    helps.add(name)
                    if re.search(r"\\[^\\n]", (parts[3] if len(parts) > 3 else "")):
                        raise Bad("HELP %s: bad escape" % name)
                else:
                    if name in types:
                        raise Bad("second TYPE for %s" % name)
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad("TYPE %s: bad type" % name)
                    if any(family_of(s[0], {name: parts[3]}) == name for s in samples):
                        raise Bad("TYPE %s after its samples" % name)
                    types[name] = parts[3]
                if current is not None and current != name:
                    done.add(current)
                current = name
                continue
            m = NAME.match(line)
            if not m:
                raise Bad("not a sample line")
            name, i = m.group(0), m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Bad("expected a space before the value")
            fields = rest[1:].split(" ")
            if len(fields) not in (1, 2):
                raise Bad("expected value [timestamp]")
            value = parse_value(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise Bad("bad timestamp")
            fam = family_of(name, types)
            if fam in done:
                raise Bad("samples of %s are not contiguous" % fam)
            if current is not None and current != fam:
                done.add(current)
            current = fam
            key = (name, tuple(sorted(labels.items())))
            if key in seen:
                raise Bad("series %s%s repeated" % (name, labels))
            seen.add(key)
            t = types.get(fam, "untyped")
            if t == "counter":
                if not name.endswith("_total"):
                    raise Bad("counter %s does not end in _total" % name)
                if not value >= 0:
                    raise Bad("counter %s is negative" % name)
            if t == "histogram" and name == fam:
                raise Bad("histogram %s: a sample without _bucket/_sum/_count" % name)
            if t == "histogram" and name.endswith("_bucket") and "le" not in labels:
                raise Bad("%s without le" % name)
            samples.append((name, labels, value, fam, n))
        except (Bad, IndexError) as e:
            raise Bad("line %d: %s: %s" % (n, e if isinstance(e, Bad) else "truncated", line))
    check_histograms(samples, types)
    return samples


def check_histograms(samples, types):
    groups = {}
    for name, labels, value, fam, n in samples:
        if types.get(fam) != "histogram":
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault((fam, rest), {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), value, n))
        elif name.endswith("_sum"):
            g["sum"] = value
        else:
            g["count"] = value
    for (fam, rest), g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise Bad("histogram %s%s: no +Inf bucket last" % (fam, dict(rest)))
        for (le0, c0, _), (le1, c1, n) in zip(b, b[1:]):
            if not le1 > le0:
                raise Bad("line %d: histogram %s: le not increasing" % (n, fam))
            if c1 < c0:
                raise Bad("line %d: histogram %s: buckets not cumulative" % (n, fam))
        if g["count"] is None or g["sum"] is None:
            raise Bad("histogram %s: _sum or _count missing" % fam)
        if g["count"] != b[-1][1]:
            raise Bad("histogram %s: _count differs from the +Inf bucket" % fam)


def canonical(name, labels):
    esc = lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    inner = ",".join('%s="%s"' % (k, esc(v)) for k, v in sorted(labels.items()))
    return name + ("{%s}" % inner if labels else "")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        samples = check(text)
    except Bad as e:
        sys.exit("promcheck: %s: %s" % (sys.argv[1], e))
    for name, labels, value, _, _ in samples:
        v = int(value) if value == int(value) and abs(value) < 2**53 else value
        print(canonical(name, labels), v)


if __name__ == "__main__":
    main()
