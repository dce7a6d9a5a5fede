#!/usr/bin/env python3
"""A GSSAPI acceptor (server side) for the winrm-auth Kerberos interop tests.

Independent of our Rust code: it uses python-gssapi over the system MIT library. Driven over
stdin/stdout, one command per line, one reply line each (binary values base64, "-" = empty):

  step TOKEN          -> ok COMPLETE(0|1) TOKEN       | err MESSAGE
  info                -> ok INITIATOR MECH_OID FLAGS DELEGATED(0|1)
  unwrap HEADER DATA  -> ok PLAINTEXT                 | err MESSAGE   (gss_unwrap_iov HEADER|DATA)
  wrap PLAINTEXT      -> ok HEADER DATA PADLEN        (gss_wrap_iov HEADER|DATA|PADDING, conf)
  quit

Options: --name SERVICE@HOST (acceptor name, default HTTP@localhost),
         --cb HEX (expected channel-binding application data; a mismatch fails the step).
Environment: KRB5_CONFIG and KRB5_KTNAME select the realm and the service keytab.
"""
import argparse
import base64
import sys

import gssapi
import gssapi.raw as raw


def b64(b):
    return base64.b64encode(b).decode() if b else "-"


def unb64(s):
    return b"" if s == "-" else base64.b64decode(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="HTTP@localhost")
    ap.add_argument("--cb", default=None)
    args = ap.parse_args()

    name = gssapi.Name(args.name, gssapi.NameType.hostbased_service)
    creds = gssapi.Credentials(name=name, usage="accept")
    cb = None
    if args.cb is not None:
        cb = raw.ChannelBindings(application_data=bytes.fromhex(args.cb))
    ctx = gssapi.SecurityContext(creds=creds, usage="accept", channel_bindings=cb)

    out = sys.stdout
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        try:
            if cmd == "quit":
                break
            elif cmd == "step":
                token = ctx.step(unb64(parts[1]))
                reply = "ok %d %s" % (1 if ctx.complete else 0, b64(token))
            elif cmd == "info":
                flags = 0
                for f in ctx.actual_flags:
                    flags |= int(f)
                reply = "ok %s %s %d %d" % (
                    str(ctx.initiator_name).replace(" ", "_"),
                    ctx.mech.dotted_form,
                    flags,
                    1 if ctx.delegated_creds is not None else 0,
                )
            elif cmd == "unwrap":
                iov = raw.IOV(
                    (raw.IOVBufferType.header, False, unb64(parts[1])),
                    unb64(parts[2]),
                    std_layout=False,
                )
                res = raw.unwrap_iov(ctx, iov)
                if not res.encrypted:
                    raise ValueError("message was not encrypted")
                reply = "ok %s" % b64(iov[1].value)
            elif cmd == "wrap":
                iov = raw.IOV(
                    raw.IOVBufferType.header,
                    unb64(parts[1]),
                    raw.IOVBufferType.padding,
                    std_layout=False,
                )
                raw.wrap_iov(ctx, iov, confidential=True)
                pad = iov[2].value or b""
                reply = "ok %s %s %d" % (b64(iov[0].value), b64((iov[1].value or b"") + pad), len(pad))
            else:
                reply = "err unknown command %s" % cmd
        except Exception as e:  # report every failure to the test as a line
            reply = "err " + (" ".join(str(e).split()) or type(e).__name__)
        print(reply, file=out, flush=True)


if __name__ == "__main__":
    main()
