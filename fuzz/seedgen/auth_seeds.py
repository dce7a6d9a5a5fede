#!/usr/bin/env python3
"""Writes the seed corpora of the auth fuzz targets into fuzz/corpus-seed/.

NTLM tokens come from pyspnego (an independent implementation), so the fuzzer starts from
well-formed NEGOTIATE/CHALLENGE/AUTHENTICATE messages. Certificates come from openssl.
Run from the fuzz/ directory: python3 seedgen/auth_seeds.py
"""
import os
import struct
import subprocess
import tempfile

import spnego

OUT = "corpus-seed"


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def ntlm_tokens(with_cbt):
    kw = {}
    if with_cbt:
        kw["channel_bindings"] = spnego.channel_bindings.GssChannelBindings(
            application_data=b"tls-server-end-point:" + bytes(range(32)))
    c = spnego.client("u", "p", hostname="host.example", service="HTTP", protocol="ntlm", **kw)
    s = spnego.server(protocol="ntlm", **kw)
    neg = c.step()
    chal = s.step(neg)
    auth = c.step(chal)
    return neg, chal, auth


def main():
    os.environ["NTLM_USER_FILE"] = _user_file()
    for i, cbt in enumerate([False, True]):
        neg, chal, auth = ntlm_tokens(cbt)
        write("ntlm_challenge", f"pyspnego_challenge_{i}.bin", chal)
        write("ntlm_acceptor", f"pyspnego_negotiate_{i}.bin", neg)
        write("ntlm_acceptor", f"pyspnego_authenticate_{i}.bin", auth)

    soap = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
    for i, header in enumerate([b"", bytes(16)]):
        body = (b"--Encrypted Boundary\r\n"
                b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"
                b"--Encrypted Boundary\r\n"
                b"\tContent-Type: application/octet-stream\r\n" % len(soap)
                + struct.pack("<I", len(header)) + header + soap + b"--Encrypted Boundary--\r\n")
        write("encrypted_body", f"sealed_{i}.bin", body)

    for i, v in enumerate([
        "Negotiate",
        "Negotiate TlRMTVNTUAACAAAADAAMADgAAAA1gonikyIzMg==",
        'Negotiate, Kerberos, Basic realm="WSMAN", NTLM',
        'Basic realm="a \\"quoted\\" realm", charset="UTF-8"',
        "Kerberos YIIBhgYJKoZIhvcSAQICAQBuggF1MIIBcaADAgEF",
    ]):
        write("www_authenticate", f"header_{i}.txt", v.encode())

    with tempfile.TemporaryDirectory() as d:
        for name, args in [
            ("rsa_sha256", ["-newkey", "rsa:1024", "-sha256"]),
            ("rsa_sha1", ["-newkey", "rsa:1024", "-sha1"]),
            ("ec_sha384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"]),
            ("ed25519", ["-newkey", "ed25519"]),
        ]:
            der = os.path.join(d, name + ".der")
            subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=h",
                            "-keyout", os.path.join(d, "k"), "-outform", "DER", "-out", der] + args,
                           check=True, capture_output=True)
            with open(der, "rb") as f:
                write("certificate", name + ".der", f.read())


def _user_file():
    path = os.path.join(tempfile.mkdtemp(), "users")
    with open(path, "w") as f:
        f.write(":u:p\n")
    return path


if __name__ == "__main__":
    main()
