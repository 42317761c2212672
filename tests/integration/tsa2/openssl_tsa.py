#!/usr/bin/env python3
"""An RFC 3161 TSA that tsbag did not write: stock `openssl ts -reply` behind a small HTTPS server
(RFC 3161 section 3.4: POST application/timestamp-query, answer application/timestamp-reply).

usage: openssl_tsa.py DIR PORT_FILE
DIR holds tsa.cnf (the openssl ts configuration), tls.pem/tls.key (the HTTPS certificate) and
the fault file `mode` (re-read for every request), one word:
  ok         answer the query as sent
  down       answer HTTP 503 without a token
  nonce      answer a copy of the query whose nonce differs in its last byte
  imprint    answer a copy of the query whose messageImprint differs in its first byte
  untrusted  sign with rogue.pem/rogue.key, a TSA certificate that chains to no configured anchor
With DIR/auth present (one line user:password), a request without that HTTP basic
authentication gets 401 and is counted as "unauthorized".
Each request is counted in DIR/requests (one line per request: the mode used).
"""
import base64
import http.server
import os
import ssl
import subprocess
import sys
import tempfile

DIR, PORT_FILE = sys.argv[1], sys.argv[2]


def mode():
    try:
        with open(os.path.join(DIR, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


def tamper(query, what):
    q = bytearray(query)
    if what == "nonce":
        # TimeStampReq ends with nonce INTEGER then certReq BOOLEAN TRUE (01 01 ff)
        assert q[-3:] == b"\x01\x01\xff", "query does not end with certReq TRUE"
        q[-4] ^= 0x01
    elif what == "imprint":
        i = q.index(b"\x04\x20")  # the 32-byte SHA-256 OCTET STRING
        q[i + 2] ^= 0x01
    return bytes(q)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("openssl_tsa: " + fmt % args + "\n")

    def authorized(self):
        try:
            with open(os.path.join(DIR, "auth")) as f:
                want = f.read().strip()
        except FileNotFoundError:
            return True
        got = self.headers.get("Authorization", "")
        return got == "Basic " + base64.b64encode(want.encode()).decode()

    def do_POST(self):
        m = mode() if self.authorized() else "unauthorized"
        with open(os.path.join(DIR, "requests"), "a") as f:
            f.write(m + "\n")
        n = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(n)
        if m == "down":
            self.send_error(503, "TSA down for the test")
            return
        if m == "unauthorized":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="tsa"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self.send_error(415, "expected application/timestamp-query")
            return
        signer = ["-signer", os.path.join(DIR, "tsa.pem"), "-inkey", os.path.join(DIR, "tsa.key")]
        if m == "untrusted":
            signer = ["-signer", os.path.join(DIR, "rogue.pem"),
                      "-inkey", os.path.join(DIR, "rogue.key")]
        with tempfile.TemporaryDirectory(dir=DIR) as tmp:
            qf, rf = os.path.join(tmp, "q.tsq"), os.path.join(tmp, "r.tsr")
            with open(qf, "wb") as f:
                f.write(tamper(query, m))
            p = subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(DIR, "tsa.cnf"),
                                "-queryfile", qf, "-out", rf] + signer,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                sys.stderr.write(p.stdout.decode(errors="replace"))
                self.send_error(500, "openssl ts -reply failed")
                return
            with open(rf, "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(DIR, "tls.pem"), os.path.join(DIR, "tls.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
