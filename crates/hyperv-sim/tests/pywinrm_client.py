#!/usr/bin/env python3
"""Independent client for the simulator's fidelity test: pywinrm (NTLM, message encryption
always) sends a raw Get envelope and a raw Invoke envelope with Protocol.send_message.

Usage: pywinrm_client.py ENDPOINT USER VM_GUID   (password in the HVSIM_PASSWORD env var)
Prints one JSON object: {"get": <response XML>, "invoke": <response XML>}.
"""
import json
import os
import sys
import uuid

import winrm

NS = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2"


def header(endpoint, resource_uri, action, selectors):
    sel = "".join(
        '<w:Selector Name="%s">%s</w:Selector>' % (k, v) for k, v in selectors
    )
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        "<s:Header>"
        "<a:To>%s</a:To>"
        '<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>'
        "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">"
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        '<a:Action s:mustUnderstand="true">%s</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        "<a:MessageID>uuid:%s</a:MessageID>"
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        "<w:SelectorSet>%s</w:SelectorSet>"
        "</s:Header>" % (endpoint, resource_uri, action, str(uuid.uuid4()).upper(), sel)
    )


def main():
    endpoint, user, vm = sys.argv[1], sys.argv[2], sys.argv[3]
    password = os.environ["HVSIM_PASSWORD"]
    p = winrm.Protocol(
        endpoint,
        transport="ntlm",
        message_encryption="always",
        username=user,
        password=password,
    )
    cs = NS + "/Msvm_ComputerSystem"
    cs_sel = [("CreationClassName", "Msvm_ComputerSystem"), ("Name", vm)]
    get = (
        header(endpoint, cs, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", cs_sel)
        + "<s:Body/></s:Envelope>"
    )
    get_resp = p.send_message(get)

    svc = NS + "/Msvm_ReplicationService"
    svc_sel = [("CreationClassName", "Msvm_ReplicationService")]
    invoke = (
        header(endpoint, svc, svc + "/InitiateFailover", svc_sel)
        + "<s:Body>"
        '<p:InitiateFailover_INPUT xmlns:p="%s">'
        "<p:ComputerSystem>"
        "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
        "<a:ReferenceParameters>"
        "<w:ResourceURI>%s</w:ResourceURI>"
        "<w:SelectorSet>"
        '<w:Selector Name="CreationClassName">Msvm_ComputerSystem</w:Selector>'
        '<w:Selector Name="Name">%s</w:Selector>'
        "</w:SelectorSet>"
        "</a:ReferenceParameters>"
        "</p:ComputerSystem>"
        "</p:InitiateFailover_INPUT>"
        "</s:Body></s:Envelope>" % (svc, cs, vm)
    )
    invoke_resp = p.send_message(invoke)

    def text(b):
        return b.decode("utf-8") if isinstance(b, bytes) else b

    print(json.dumps({"get": text(get_resp), "invoke": text(invoke_resp)}))


if __name__ == "__main__":
    main()
