#!/usr/bin/env python3
"""NTLM peer driven over stdin/stdout, backed by pyspnego (an implementation we did not write).

Used by crates/winrm-auth/tests/interop_pyspnego.rs. One JSON object per line in, one per line out.

Usage:
    ntlm_peer.py server                      # acceptor; needs NTLM_USER_FILE (DOMAIN:user:password lines)
        [--cbt HEX]                          #   require these channel-binding application data bytes
    ntlm_peer.py client USER PASSWORD        # initiator (USER may be DOMAIN\\user)
        [--cbt HEX] [--host HOST]

Requests (base64 fields):
    {"op": "step", "token": B64 | null}      -> {"token": B64 | null, "complete": bool}
    {"op": "wrap", "data": B64}              -> {"header": B64, "data": B64}   (wrap_winrm)
    {"op": "unwrap", "header": B64, "data": B64} -> {"data": B64}           (unwrap_winrm)
    {"op": "user"}                           -> {"user": "DOMAIN\\user"}
Any failure -> {"error": "<ExceptionClass>: <message>"}; the process keeps serving.
"""
import base64
import json
import sys

import spnego
from spnego.channel_bindings import GssChannelBindings


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def main(argv):
    args = list(argv)
    cbt = None
    host = "hv01.hvlab.example"
    if "--cbt" in args:
        i = args.index("--cbt")
        cbt = GssChannelBindings(application_data=bytes.fromhex(args[i + 1]))
        del args[i : i + 2]
    if "--host" in args:
        i = args.index("--host")
        host = args[i + 1]
        del args[i : i + 2]
    if args and args[0] == "server":
        ctx = spnego.server(hostname=host, service="HTTP", protocol="ntlm", channel_bindings=cbt)
    elif len(args) == 3 and args[0] == "client":
        ctx = spnego.client(args[1], args[2], hostname=host, service="HTTP", protocol="ntlm", channel_bindings=cbt)
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req["op"]
            if op == "step":
                out = ctx.step(unb64(req.get("token")))
                resp = {"token": b64(out), "complete": ctx.complete}
            elif op == "wrap":
                r = ctx.wrap_winrm(unb64(req["data"]))
                resp = {"header": b64(r.header), "data": b64(r.data)}
            elif op == "unwrap":
                resp = {"data": b64(ctx.unwrap_winrm(unb64(req["header"]), unb64(req["data"])))}
            elif op == "user":
                resp = {"user": ctx.client_principal}
            else:
                resp = {"error": "unknown op %r" % op}
        except Exception as e:  # report every failure to the driver, keep serving
            resp = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(resp), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
