#!/usr/bin/env python3
"""acceptance_messages: keeps docs/acceptance.md's tables of failure messages (section 7) honest.

Both directions, against the string literals of src/ (adjacent literals joined, a macro such as
PRId64 between them counting as a conversion):
  1. every message a table lists still exists: each code span of a row's first cell (outside
     parentheses and brackets, which hold examples from the peer and finding keys), cut at "...",
     ": " and "; ", gives pieces; every piece of 3 characters or more must occur in some literal,
     so a reworded message breaks this test;
  2. every message an operator can meet at acceptance is listed: the sender's failure reasons and
     log lines, the token checks' failures, the findings, the DSS answer errors, the keystore and
     IDHospital start-up errors, tsbag retry's and tsbag status's HELD lines. The longest constant
     run of each (between printf conversions) must occur in the tables' first cells.
Usage: acceptance_messages.py SOURCE_DIR. Exit 0 when both hold, 1 with the list of what breaks.
"""
import os
import re
import sys

LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
JOIN = re.compile(r'^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*)?$')  # whitespace, or one macro (PRId64 ...)
CONV = re.compile(r'%?<MACRO>|%[-+ #0-9.*]*(?:hh|h|ll|l|z|j|t|L)?[diouxXeEfgGcspn%]|`|\n')


def unescape(s):
    return s.replace('\\"', '"').replace('\\\\', '\\').replace('\\n', '\n')


def literals(text):
    """The string constants of a C file: (start offset, joined text)."""
    out, cur, start, end = [], None, 0, 0
    for m in LIT.finditer(text):
        between = text[end:m.start()]
        if cur is not None and JOIN.match(between):
            if between.strip():
                cur += '<MACRO>'  # "bag %" PRId64 " held": one conversion
            cur += unescape(m.group(1))
        else:
            if cur is not None:
                out.append((start, cur))
            cur, start = unescape(m.group(1)), m.start()
        end = m.end()
    if cur is not None:
        out.append((start, cur))
    return out


def strip_comments(text):
    # keep offsets: blank out comments (a '"' inside a comment must not start a literal)
    def blank(m):
        return re.sub(r'[^\n]', ' ', m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*', blank, text, flags=re.S)


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


# (file, regex that precedes the message literal, regex the message must match): the messages
# operators meet at acceptance. config.c: the environment and IDHospital checks only (the other
# option errors name the option and the file line); cmd_status.c: the lines of trouble only.
ANY = r''
WANTED = [
    ('src/daemon/sender.c', r'\bfail\(a,[^,]+,\s*(?:"[^"]*"|\w+),\s*$', ANY),
    ('src/daemon/sender.c', r'\btsb_(?:error|warn)\(\s*$', ANY),
    ('src/daemon/sender.c', r'\btsb_log\([^,]+,\s*$', ANY),
    ('src/daemon/sender.c', r'tsb_err\(TSB_EINVAL,\s*$', ANY),
    ('src/core/token.c', r'TSB_CHECK_FAIL,\s*$', ANY),
    ('src/core/token.c', r'tsb_err\(TSB_E(?:FORMAT|TOKEN|CONFIG|INVAL),\s*$', ANY),
    ('src/core/finding.c', r'snprintf\(out->text, sizeof\(out->text\),\s*$', ANY),
    ('src/core/dss.c', r'tsb_err\(TSB_E(?:FORMAT|PROTO),\s*$', ANY),
    ('src/core/wss.c', r'tsb_err\(TSB_E(?:CRYPTO|SECURITY),\s*$', ANY),
    ('src/core/keystore.c', r'tsb_err\(TSB_ECONFIG,\s*$', ANY),
    ('src/core/keystore.c', r'fd\.keys == 0 \?\s*$', ANY),
    ('src/core/keystore.c', r'tsb_warn\(\s*$', ANY),
    ('src/core/keystore.c', r'snprintf\(msg, sizeof\(msg\),\s*$', ANY),
    ('src/core/config.c', r'return tsb_err\(TSB_ECONFIG,\s*$', r'id_hospital|environment|tsa_<KBO>'),
    ('src/cli/cmd_retry.c', r'\bf?printf\((?:stderr,\s*)?$', r'^(?!usage:)'),
    ('src/cli/cmd_status.c', r'printf\(\s*$', r'^(HELD|action|ALARM):'),
    ('src/cli/daemon_request.c', r'fprintf\(stderr,\s*$', r'cannot talk'),
    ('src/cli/daemon_request.c', r'tsb_err\(TSB_E\w+,\s*$', r'connection lost'),
]


def wanted_messages(src):
    msgs = []
    for rel, pre, keep in WANTED:
        text = strip_comments(read(os.path.join(src, rel)))
        pre_re, keep_re = re.compile(pre), re.compile(keep)
        for off, lit in literals(text):
            window = text[max(0, off - 200):off]
            if pre_re.search(window) and keep_re.search(lit) and longest_run(lit):
                msgs.append((rel, lit))
    return msgs


def longest_run(msg):
    runs = [r.strip(' :;,.()\'') for r in CONV.split(msg)]
    runs = [r for r in runs if len(r) >= 6]
    return max(runs, key=len) if runs else ''


def message_spans(cell):
    """The code spans of a cell that are messages: those outside parentheses and brackets of the
    cell's prose, which hold examples of what the peer or libcurl said and finding keys."""
    spans, depth = [], 0
    for i, part in enumerate(re.split(r'`', cell)):
        if i % 2:
            if depth == 0:
                spans.append(part)
        else:
            for ch in part:
                depth += ch in '([' and 1 or (ch in ')]' and -1 or 0)
            depth = max(depth, 0)
    return spans


def doc_tables(doc):
    """The first cells of the table rows of section 7, as a list of (line number, cell)."""
    rows, on = [], False
    for n, line in enumerate(doc.split('\n'), 1):
        if line.startswith('## '):
            on = line.startswith('## 7.')
        if on and line.startswith('### What to capture'):
            on = False
        if on and line.startswith('|') and not re.match(r'^\|[-| ]+\|$', line):
            cell = line.split('|')[1].strip()
            if cell not in ('message', 'line'):
                rows.append((n, cell))
    return rows


def main():
    src = sys.argv[1]
    corpus = []
    for d, _, files in os.walk(os.path.join(src, 'src')):
        for f in sorted(files):
            if f.endswith('.c'):
                corpus += [lit for _, lit in literals(strip_comments(read(os.path.join(d, f))))]
    joined = '\n'.join(corpus)
    doc = read(os.path.join(src, 'docs/acceptance.md'))
    rows = doc_tables(doc)
    bad, pieces_checked = [], 0
    for n, cell in rows:
        spans = message_spans(cell)
        checked = 0
        for span in spans:
            for piece in re.split(r'\.\.\.|: |; ', span):
                piece = piece.strip(' :;,.()\'')
                if len(piece) < 3:
                    continue
                checked += 1
                if piece not in joined:
                    bad.append('docs/acceptance.md:%d: "%s" occurs in no message of src/ '
                               '(reworded? update the table)' % (n, piece))
        if checked == 0:
            bad.append('docs/acceptance.md:%d: the row names no message to check: %s' % (n, cell))
        pieces_checked += checked
    cells = '\n'.join(c.replace('`', '') for _, c in rows)
    msgs = wanted_messages(src)
    for rel, msg in msgs:
        run = longest_run(msg)
        if run not in cells:
            bad.append('%s: "%s" is not in docs/acceptance.md section 7 (add a row: meaning and '
                       'action)' % (rel, run))
    if len(rows) < 30 or len(msgs) < 60:
        bad.append('only %d table rows and %d source messages found: is the section or the '
                   'source layout different?' % (len(rows), len(msgs)))
    for b in bad:
        print(b)
    print('%d rows, %d pieces checked against src/, %d source messages looked up in the tables: %s'
          % (len(rows), pieces_checked, len(msgs), 'FAIL' if bad else 'ok'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
