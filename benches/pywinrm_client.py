#!/usr/bin/env python3
"""The pywinrm side of the benchmarks: raw WS-Management envelopes through
winrm.protocol.Protocol.send_message (NTLM, message encryption always, one keep-alive
connection), the same requests hvbench's Rust client sends.

Usage:
  pywinrm_client.py loop ENDPOINT VM_GUID N   N Gets + N Invokes; prints JSON with the loop's wall time
  pywinrm_client.py identify ENDPOINT         one Identify (the cold-start benchmark)
The user is HV\\bench; the password is read from HVBENCH_PASSWORD.
"""
import json
import os
import sys
import time
import uuid

import winrm

NS_URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2"
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
ENVELOPE_OPEN = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
)


def selectors(pairs):
    return "".join('<w:Selector Name="%s">%s</w:Selector>' % kv for kv in pairs)


def envelope(endpoint, resource_uri, action, sel, body):
    """A request envelope shaped like pywinrm's own (Protocol.build_wsman_header)."""
    return (
        ENVELOPE_OPEN
        + "<s:Header>"
        + "<a:To>%s</a:To>" % endpoint
        + '<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>' % resource_uri
        + '<a:ReplyTo><a:Address s:mustUnderstand="true">%s</a:Address></a:ReplyTo>' % ANON
        + '<a:Action s:mustUnderstand="true">%s</a:Action>' % action
        + '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        + "<a:MessageID>uuid:%s</a:MessageID>" % str(uuid.uuid4()).upper()
        + '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        + "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        + "<w:SelectorSet>%s</w:SelectorSet>" % selectors(sel)
        + "</s:Header>"
        + body
        + "</s:Envelope>"
    )


def protocol(endpoint):
    return winrm.Protocol(
        endpoint,
        transport="ntlm",
        message_encryption="always",
        username="HV\\bench",
        password=os.environ["HVBENCH_PASSWORD"],
    )


def loop(endpoint, vm, n):
    p = protocol(endpoint)
    cs = NS_URI + "/Msvm_ComputerSystem"
    svc = NS_URI + "/Msvm_ReplicationService"
    cs_sel = [("CreationClassName", "Msvm_ComputerSystem"), ("Name", vm)]
    svc_sel = [("CreationClassName", "Msvm_ReplicationService")]
    get_action = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
    invoke_body = (
        '<s:Body><p:InitiateFailover_INPUT xmlns:p="%s"><p:ComputerSystem>'
        "<a:Address>%s</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet>%s</w:SelectorSet>"
        "</a:ReferenceParameters></p:ComputerSystem></p:InitiateFailover_INPUT></s:Body>"
        % (svc, ANON, cs, selectors(cs_sel))
    )
    # Connection set-up and the NTLM handshake happen on the first request (not timed).
    t0 = time.perf_counter()
    first = p.send_message(envelope(endpoint, cs, get_action, cs_sel, "<s:Body/>"))
    first_s = time.perf_counter() - t0
    assert b"Msvm_ComputerSystem" in first
    start = time.perf_counter()
    for _ in range(n):
        r = p.send_message(envelope(endpoint, cs, get_action, cs_sel, "<s:Body/>"))
        assert b"Msvm_ComputerSystem" in r
        r = p.send_message(envelope(endpoint, svc, svc + "/InitiateFailover", svc_sel, invoke_body))
        assert b"InitiateFailover_OUTPUT" in r
    wall = time.perf_counter() - start
    print(json.dumps({"n": n, "requests": 2 * n, "wall_s": wall, "first_request_s": first_s}))


def identify(endpoint):
    p = protocol(endpoint)
    r = p.send_message(
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
    )
    assert b"IdentifyResponse" in r


if __name__ == "__main__":
    if sys.argv[1] == "loop":
        loop(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "identify":
        identify(sys.argv[2])
    else:
        sys.exit(__doc__)
