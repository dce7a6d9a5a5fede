#!/usr/bin/env python3
"""A small WinRM-like HTTP/1.1 server on 127.0.0.1 that authenticates with pyspnego's NTLM
acceptor and speaks WinRM message encryption (multipart/encrypted, MS-WSMV 2.2.9.1) through
pyspnego's wrap_winrm/unwrap_winrm. An independent peer for hvctl's transport interop tests.

CLI:
    winrm_ntlm_server.py RESPONSES_DIR [options]

    RESPONSES_DIR          directory of canned SOAP responses (see "Responses" below)
    --port N               TCP port on 127.0.0.1 (default 0 = pick a free one)
    --user DOMAIN:USER:PASSWORD
                           account accepted (repeatable); default HVLAB:Administrator:Secr3t!
                           (NTLM_USER_FILE, if set in the environment, is used instead)
    --tls-cert PEM --tls-key PEM
                           serve HTTPS with this certificate and key
    --cbt                  require NTLM channel bindings (tls-server-end-point of the
                           certificate, RFC 5929; missing or all-zero bindings are refused,
                           a wrong hash is refused by pyspnego); needs --tls-cert
    --allow-unencrypted    accept plain application/soap+xml bodies after authentication
                           (default: answer them 400, as Windows with AllowUnencrypted=false)
    --reauth-after N       after N sealed requests on a connection, drop its security context
                           and answer the next request 401 (to test re-authentication)

On start it prints one JSON line on stdout: {"port": N, "scheme": "http"|"https", "pid": PID}.
Stop it by killing that PID.

Authentication: a request without Authorization gets 401 with two headers,
"WWW-Authenticate: Negotiate" and "WWW-Authenticate: NTLM". Tokens in "Authorization:
Negotiate|NTLM <base64>" are fed to pyspnego; the CHALLENGE goes back in a 401. The request
that carries AUTHENTICATE is answered 200 with an empty body if its body is empty (pywinrm
style), or processed normally if it carries a sealed body. Bad credentials: 401. The NTLM
context is per TCP connection (keep-alive is required).

Responses: the decrypted request's wsa:Action local part (after the last '/') chooses the file:
first RESPONSES_DIR/<Action>.<ResourceClass>.xml (ResourceClass = last segment of
wsman:ResourceURI), then RESPONSES_DIR/<Action>.xml, then RESPONSES_DIR/default.xml. In the
file, {{RELATES_TO}} becomes the request's MessageID and {{MESSAGE_ID}} a fresh uuid; without
the placeholder, the text of any <...RelatesTo> element is replaced by the request's MessageID.
No file: HTTP 500 with a SOAP fault (wsman:ActionNotSupported). The reply is sealed the same way.

Stats: GET /stats (no authentication; its connection is not counted) returns JSON
{"connections", "requests", "sealed_requests", "auth_failures", "unencrypted_rejected",
 "by_action": {...}}; each request is also logged on stderr.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import uuid

import spnego
from spnego.channel_bindings import GssChannelBindings

BOUNDARY = b"Encrypted Boundary"
PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"

STATS = {
    "connections": 0,
    "requests": 0,
    "sealed_requests": 0,
    "auth_failures": 0,
    "unencrypted_rejected": 0,
    "by_action": {},
}
LOCK = threading.Lock()


def bump(key, action=None):
    with LOCK:
        STATS[key] += 1
        if action:
            STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1


def tls_server_end_point(cert_der):
    """RFC 5929: hash with the certificate's signature hash, SHA-256 for MD5/SHA-1."""
    name = "sha256"
    try:
        from cryptography import x509

        alg = x509.load_der_x509_certificate(cert_der).signature_hash_algorithm
        if alg is not None and alg.name in ("sha384", "sha512"):
            name = alg.name
    except Exception:
        pass
    return b"tls-server-end-point:" + hashlib.new(name, cert_der).digest()


def parse_encrypted(body):
    """Tolerant multipart/encrypted parser: [(length, header, data)]."""
    delim = re.compile(rb"--\s*" + re.escape(BOUNDARY))
    parts = []
    marks = [m for m in delim.finditer(body)]
    i = 0
    while i + 1 < len(marks):
        head = body[marks[i].end() : marks[i + 1].start()]
        m = re.search(rb"Length=(\d+)", head)
        if not m:
            i += 1
            continue
        length = int(m.group(1))
        start = marks[i + 1].end()
        start = body.index(b"\n", body.index(b"\n", start) + 1) + 1  # skip CRLF and the Content-Type line
        hlen = struct.unpack("<I", body[start : start + 4])[0]
        header = body[start + 4 : start + 4 + hlen]
        end = marks[i + 2].start() if i + 2 < len(marks) else len(body)
        data = body[start + 4 + hlen : end]
        parts.append((length, header, data))
        i += 2
    return parts


def client_bindings(authenticate):
    """MsvAvChannelBindings from an AUTHENTICATE message's NTLMv2 response, or None."""
    nt_len, _, nt_off = struct.unpack("<HHI", authenticate[20:28])
    av = authenticate[nt_off + 16 + 28 : nt_off + nt_len]
    while len(av) >= 4:
        av_id, av_len = struct.unpack("<HH", av[:4])
        if av_id == 0:
            break
        if av_id == 0x000A:
            return av[4 : 4 + av_len]
        av = av[4 + av_len :]
    return None


def build_encrypted(ctx, plaintext):
    r = ctx.wrap_winrm(plaintext)
    return (
        b"--" + BOUNDARY + b"\r\n"
        b"\tContent-Type: " + PROTOCOL.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(plaintext)).encode() + b"\r\n"
        b"--" + BOUNDARY + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n" + struct.pack("<I", len(r.header)) + r.header + r.data + b"--" + BOUNDARY + b"--\r\n"
    )


FAULT = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:MessageID>uuid:{mid}</a:MessageID><a:RelatesTo>{rel}</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:ActionNotSupported</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">no canned response for action {action}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"""


def first(pattern, text):
    m = re.search(pattern, text, re.S)
    return m.group(1).strip() if m else ""


def respond_soap(request_xml, responses_dir):
    text = request_xml.decode("utf-8", "replace")
    action = first(r"<(?:\w+:)?Action\b[^>]*>([^<]*)</", text)
    message_id = first(r"<(?:\w+:)?MessageID\b[^>]*>([^<]*)</", text)
    resource = first(r"<(?:\w+:)?ResourceURI\b[^>]*>([^<]*)</", text)
    local = action.rstrip("/").rsplit("/", 1)[-1] or "default"
    cls = resource.rstrip("/").rsplit("/", 1)[-1]
    candidates = ([f"{local}.{cls}.xml"] if cls else []) + [f"{local}.xml", "default.xml"]
    for name in candidates:
        path = os.path.join(responses_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                body = f.read()
            if "{{RELATES_TO}}" in body:
                body = body.replace("{{RELATES_TO}}", message_id)
            else:
                body = re.sub(r"(<(?:\w+:)?RelatesTo\b[^>]*>)[^<]*(</)", lambda m: m.group(1) + message_id + m.group(2), body)
            body = body.replace("{{MESSAGE_ID}}", "uuid:" + str(uuid.uuid4()).upper())
            return 200, local, body.encode("utf-8")
    return 500, local, FAULT.format(mid=str(uuid.uuid4()).upper(), rel=message_id, action=action).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def setup(self):
        super().setup()
        self.counted = False  # a connection counts once it carries a POST (not /stats)
        self.ctx = None
        self.sealed_count = 0

    def log_message(self, fmt, *args):
        sys.stderr.write("winrm_ntlm_server: %s\n" % (fmt % args))

    def send(self, status, body=b"", content_type=None, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def new_context(self):
        opts = self.server.opts
        return spnego.server(hostname="localhost", service="HTTP", protocol="ntlm", channel_bindings=opts.bindings)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            self.send(200, body, "application/json")
        else:
            self.send(404)

    def do_POST(self):
        if not self.counted:
            self.counted = True
            bump("connections")
        bump("requests")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        opts = self.server.opts
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() not in ("negotiate", "ntlm"):
                return self.send(401, extra=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
            try:
                raw = base64.b64decode(token.strip())
                if raw[8:12] == b"\x01\x00\x00\x00" or self.ctx is None or self.ctx.complete:
                    self.ctx = self.new_context()
                    self.sealed_count = 0
                if opts.bindings is not None and raw[8:12] == b"\x03\x00\x00\x00":
                    # pyspnego accepts an all-zero MsvAvChannelBindings; --cbt is strict.
                    sent = client_bindings(raw)
                    if not sent or sent == b"\x00" * 16:
                        raise ValueError("channel bindings required but not sent")
                out = self.ctx.step(raw)
            except Exception as e:
                bump("auth_failures")
                self.log_message("authentication failed: %s", e)
                self.ctx = None
                return self.send(401, extra=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
            if not self.ctx.complete:
                hdr = "%s %s" % (scheme, base64.b64encode(out).decode())
                return self.send(401, extra=[("WWW-Authenticate", hdr)])
            if not body:
                return self.send(200)
        if self.ctx is None or not self.ctx.complete:
            return self.send(401, extra=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
        if opts.reauth_after and self.sealed_count >= opts.reauth_after:
            self.ctx = None
            return self.send(401, extra=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
        ctype = self.headers.get("Content-Type", "")
        if "multipart/encrypted" in ctype or "multipart/x-multi-encrypted" in ctype:
            try:
                plain = b""
                for want, header, data in parse_encrypted(body):
                    piece = self.ctx.unwrap_winrm(header, data)
                    if len(piece) != want:
                        raise ValueError("length mismatch")
                    plain += piece
                if not plain:
                    raise ValueError("no encrypted part")
            except Exception as e:
                self.log_message("cannot decrypt request: %s", e)
                self.ctx = None
                return self.send(400)
            bump("sealed_requests")
            self.sealed_count += 1
            status, action, reply = respond_soap(plain, opts.responses)
            with LOCK:
                STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1
            ct = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTOCOL
            return self.send(status, build_encrypted(self.ctx, reply), ct)
        if not opts.allow_unencrypted:
            bump("unencrypted_rejected")
            return self.send(400)
        status, action, reply = respond_soap(body, opts.responses)
        with LOCK:
            STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1
        return self.send(status, reply, "application/soap+xml;charset=UTF-8")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description="WinRM-like NTLM server backed by pyspnego")
    p.add_argument("responses")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", action="append", default=[])
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--cbt", action="store_true")
    p.add_argument("--allow-unencrypted", action="store_true")
    p.add_argument("--reauth-after", type=int, default=0)
    opts = p.parse_args()
    # The accounts: NTLM_USER_FILE (the tests write it in a directory they delete), or --user
    # written into a file of our own, removed when the server stops normally (a peer killed by
    # PID cannot remove it: the tests therefore give NTLM_USER_FILE).
    own_users = None
    if not os.environ.get("NTLM_USER_FILE"):
        users = opts.user or ["HVLAB:Administrator:Secr3t!"]
        fd, own_users = tempfile.mkstemp(prefix="winrm-ntlm-users-")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(users) + "\n")
        os.environ["NTLM_USER_FILE"] = own_users
    opts.bindings = None
    server = Server(("127.0.0.1", opts.port), Handler)
    scheme = "http"
    if opts.tls_cert:
        sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sslctx.load_cert_chain(opts.tls_cert, opts.tls_key)
        server.socket = sslctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
        if opts.cbt:
            with open(opts.tls_cert, "rb") as f:
                der = ssl.PEM_cert_to_DER_cert(f.read().decode())
            opts.bindings = GssChannelBindings(application_data=tls_server_end_point(der))
    elif opts.cbt:
        p.error("--cbt needs --tls-cert")
    server.opts = opts
    print(json.dumps({"port": server.server_address[1], "scheme": scheme, "pid": os.getpid()}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if own_users:
            os.unlink(own_users)


if __name__ == "__main__":
    main()
