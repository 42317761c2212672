#!/usr/bin/env python3
"""json_strict: reads one JSON document on stdin and writes it back indented on stdout, or exits 1
naming what is wrong. Stricter than jq, which repairs what it reads: the bytes must be UTF-8, the
document exactly one value, no key may appear twice in an object, and NaN/Infinity are refused.
Tests pipe tsbag's --json output through it before querying fields with jq."""
import json
import sys


def no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError("key %r appears twice in one object" % k)
        seen[k] = v
    return seen


def no_constants(name):
    raise ValueError("%s is not JSON" % name)


def main():
    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        sys.stderr.write("json_strict: not strict JSON: %s\n" % e)
        return 1
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
