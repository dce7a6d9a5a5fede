#!/usr/bin/env python3
"""NTLM peer driven over stdin/stdout, backed by pyspnego (an implementation we did not write).

Used by crates/winrm-auth/tests/interop_pyspnego.rs. One JSON object per line in, one per line out.

Usage:
    ntlm_peer.py server                      # acceptor; needs NTLM_USER_FILE (DOMAIN:user:password lines)
        [--cbt HEX]                          #   require these channel-binding application data bytes
    ntlm_peer.py client USER PASSWORD        # initiator (USER may be DOMAIN\\user)
        [--cbt HEX] [--host HOST]
    --gss                                    # use gss-ntlmssp through python-gssapi instead of
                                             # pyspnego's own NTLM (same protocol on stdin/stdout)

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


NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"


class GssNtlm:
    """gss-ntlmssp (the system GSSAPI NTLM mechanism) behind the same interface as pyspnego."""

    def __init__(self, usage, host, user=None, password=None, cbt=None):
        import gssapi
        import gssapi.raw

        self.gssapi = gssapi
        mech = gssapi.OID.from_int_seq(NTLMSSP_OID)
        bindings = None
        if cbt is not None:
            bindings = gssapi.raw.ChannelBindings(application_data=cbt.application_data)
        if usage == "accept":
            creds = gssapi.Credentials(usage="accept", mechs=[mech])
            self.ctx = gssapi.SecurityContext(creds=creds, usage="accept", channel_bindings=bindings)
        else:
            name = gssapi.Name(user, gssapi.NameType.user)
            raw = gssapi.raw.acquire_cred_with_password(name, password.encode(), usage="initiate", mechs=[mech])
            target = gssapi.Name("HTTP@" + host, gssapi.NameType.hostbased_service)
            self.ctx = gssapi.SecurityContext(
                name=target,
                creds=gssapi.Credentials(raw.creds),
                usage="initiate",
                mech=mech,
                channel_bindings=bindings,
                # Ask for sealing, as a WinRM client must (NTLMSSP_NEGOTIATE_SEAL).
                flags=gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.integrity,
            )

    @property
    def complete(self):
        return self.ctx.complete

    def step(self, token):
        return self.ctx.step(token)

    def wrap_winrm(self, data):
        msg = self.ctx.wrap(data, True).message

        class R:
            header = msg[:16]
            data = msg[16:]

        return R

    def unwrap_winrm(self, header, data):
        return self.ctx.unwrap(header + data).message

    @property
    def client_principal(self):
        return str(self.ctx.initiator_name)


def main(argv):
    args = list(argv)
    gss = "--gss" in args
    if gss:
        args.remove("--gss")
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
    if gss and args and args[0] == "server":
        ctx = GssNtlm("accept", host, cbt=cbt)
    elif gss and len(args) == 3 and args[0] == "client":
        ctx = GssNtlm("initiate", host, args[1], args[2], cbt=cbt)
    elif args and args[0] == "server":
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
