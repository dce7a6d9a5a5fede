#!/usr/bin/env python3
"""The pywinrm side of the benchmarks: raw WS-Management envelopes through
winrm.protocol.Protocol.send_message (NTLM, message encryption always, one keep-alive
connection per host), written the way a careful pywinrm user writes them by hand.

Usage:
  pywinrm_client.py loop ENDPOINT VM_GUID N   N Gets + N Invokes; prints JSON with the loop's wall time
  pywinrm_client.py identify ENDPOINT         one Identify (the cold-start benchmark)
  pywinrm_client.py list ENDPOINT             every VM (`vm list`)
  pywinrm_client.py status ENDPOINT NAME...   `replication status`
  pywinrm_client.py reverse ENDPOINT NAME...  `replication reverse`
  pywinrm_client.py failover PRIMARY REPLICA NAME
                                              the planned failover: stop, prepare (primary),
                                              fail over, reverse, start (replica)
  pywinrm_client.py fleet-status ENDPOINTS NAME...   status across hosts (ENDPOINTS comma-separated)
  pywinrm_client.py fleet-reverse ENDPOINTS NAME...  reverse across hosts
The user is HV\\bench; the password is read from HVBENCH_PASSWORD. The workflow commands print
one JSON line: what was done, the wall time after `import winrm` (`wall_s`) and the time the last
reply arrived (`done_s`, seconds since the epoch).

What the workflow commands send, and why (the same work hvctl does):
* Enumerations carry `w:OptimizeEnumeration` and `w:MaxElements` 32000 (WS-Enumeration's
  default page is one item) and Pull until `EndOfSequence`.
* A VM is found by name with WQL on `root/virtualization/v2/*`; across hosts (the fleet) each
  host's VMs are enumerated once and matched here, one request per host whatever the names.
* Replication settings are a Get of Msvm_ReplicationSettingData by InstanceID
  `Microsoft:<GUID>\\HVR\\0`; the relationship a Get of Msvm_ReplicationRelationship likewise.
* The replication service is addressed with `CreationClassName` alone (a singleton service;
  Windows accepts it), so no request is spent finding its EPR.
* The reverse sends the settings back as an embedded CIM-XML instance typed from the class MOF
  (learn.microsoft.com, Msvm_ReplicationSettingData: every property, inherited ones included),
  nulls with their class type, datetimes in DMTF form, properties the MOF does not declare
  left out; `RecoveryConnectionPoint` becomes the old primary (`Set-VMReplication -Reverse`).
* Jobs are polled by a Get of Msvm_ConcreteJob at a fixed 1 s interval (the first poll right
  after the method returns), the loop a script writes; every job of a host in one pass.
"""
import json
import os
import re
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from xml.sax.saxutils import escape

import winrm

NS_URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2"
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
S = "http://www.w3.org/2003/05/soap-envelope"
A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/common"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ENUMERATE = N + "/Enumerate"
PULL = N + "/Pull"
ENVELOPE_OPEN = (
    '<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">' % (S, A, W)
)
PAGE = 32000
POLL_INTERVAL_S = 1.0

# Msvm_ReplicationSettingData from its MOF (learn.microsoft.com/windows/win32/hyperv_v2/
# msvm-replicationsettingdata, "includes all of the inherited properties"): name -> (TYPE, array).
RSD_MOF = {
    n.lower(): (n, t, a)
    for n, t, a in [
        ("InstanceID", "string", False), ("Caption", "string", False),
        ("Description", "string", False), ("ElementName", "string", False),
        ("VirtualSystemIdentifier", "string", False), ("VirtualSystemType", "string", False),
        ("Notes", "string", True), ("CreationTime", "datetime", False),
        ("ConfigurationID", "string", False), ("ConfigurationDataRoot", "string", False),
        ("ConfigurationFile", "string", False), ("SnapshotDataRoot", "string", False),
        ("SuspendDataRoot", "string", False), ("SwapFileDataRoot", "string", False),
        ("LogDataRoot", "string", False), ("AutomaticStartupAction", "uint16", False),
        ("AutomaticStartupActionDelay", "datetime", False),
        ("AutomaticStartupActionSequenceNumber", "uint16", False),
        ("AutomaticShutdownAction", "uint16", False), ("AutomaticRecoveryAction", "uint16", False),
        ("RecoveryFile", "string", False), ("AuthenticationType", "uint16", False),
        ("CertificateThumbPrint", "string", False), ("RootCertificateThumbPrint", "string", False),
        ("CompressionEnabled", "boolean", False), ("BypassProxyServer", "boolean", False),
        ("RecoveryConnectionPoint", "string", False), ("RecoveryHostSystem", "string", False),
        ("PrimaryConnectionPoint", "string", False), ("PrimaryHostSystem", "string", False),
        ("RecoveryServerPortNumber", "uint16", False), ("ReplicateHostKvpItems", "boolean", False),
        ("ApplicationConsistentSnapshotInterval", "uint16", False),
        ("RecoveryHistory", "uint16", False), ("IncludedDisks", "string", True),
        ("AutoResynchronizeEnabled", "boolean", False),
        ("AutoResynchronizeIntervalStart", "datetime", False),
        ("AutoResynchronizeIntervalEnd", "datetime", False),
        ("EnableWriteOrderPreservationAcrossDisks", "boolean", False),
        ("ReplicationProvider", "string", False), ("AdditionalSettings", "string", False),
        ("ReplicationInterval", "uint16", False),
    ]
}


def selectors(pairs):
    return "".join('<w:Selector Name="%s">%s</w:Selector>' % (k, escape(v)) for k, v in pairs)


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
        + ("<w:SelectorSet>%s</w:SelectorSet>" % selectors(sel) if sel else "")
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


def uri(cls):
    return NS_URI + "/" + cls


def vm_ref(guid):
    return (
        "<a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
        "<w:SelectorSet>%s</w:SelectorSet></a:ReferenceParameters>"
        % (ANON, uri("Msvm_ComputerSystem"),
           selectors([("CreationClassName", "Msvm_ComputerSystem"), ("Name", guid)]))
    )


def local(tag):
    return tag.rsplit("}", 1)[-1]


def parse_instance(el):
    """An instance element as {name: [values]}: a value is None (xsi:nil), text, or
    (kind, text) for a cim:Datetime / cim:Interval; the order of the reply is kept."""
    props = {}
    for child in el:
        if child.get("{%s}nil" % XSI) == "true":
            value = None
        elif len(child):
            value = (local(child[0].tag), child[0].text or "")
        else:
            value = child.text or ""
        props.setdefault(local(child.tag), []).append(value)
    return props


def scalar(props, name):
    values = props.get(name) or [None]
    return values[0]


def dmtf(value):
    """A cim:Datetime (ISO 8601) or cim:Interval (xs:duration) as DMTF text (DSP0004 5.2.4)."""
    kind, text = value
    if kind == "Interval":
        m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?", text)
        d, h, mi, s, frac = m.groups()
        us = int(((frac or "") + "000000")[:6])
        return "%08d%02d%02d%02d.%06d:000" % (int(d or 0), int(h or 0), int(mi or 0), int(s or 0), us)
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    us = int(((frac or "") + "000000")[:6])
    if not tz or tz == "Z":
        offset = "+000"
    else:
        minutes = int(tz[1:3]) * 60 + int(tz[4:6])
        offset = "%s%03d" % (tz[0], minutes)
    return "%s%s%s%s%s%s.%06d%s" % (y, mo, d, h, mi, s, us, offset)


def cimxml(cls, props, mof):
    """The embedded CIM-XML instance (DSP0201) of `props`, typed from `mof`."""
    out = ['<INSTANCE CLASSNAME="%s">' % cls]
    for name, values in props.items():
        decl = mof.get(name.lower())
        if decl is None:
            continue  # WMI has nowhere to put it
        name, ty, is_array = decl
        texts = [dmtf(v) if isinstance(v, tuple) else v for v in values if v is not None]
        if is_array:
            inner = "".join("<VALUE>%s</VALUE>" % escape(t) for t in texts)
            out.append('<PROPERTY.ARRAY NAME="%s" TYPE="%s">%s</PROPERTY.ARRAY>'
                       % (name, ty, "<VALUE.ARRAY>%s</VALUE.ARRAY>" % inner if texts else ""))
        elif texts:
            out.append('<PROPERTY NAME="%s" TYPE="%s"><VALUE>%s</VALUE></PROPERTY>' % (name, ty, escape(texts[0])))
        else:
            out.append('<PROPERTY NAME="%s" TYPE="%s"></PROPERTY>' % (name, ty))
    out.append("</INSTANCE>")
    return "".join(out)


class Host:
    """One host: one Protocol (one keep-alive connection, one NTLM context)."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.p = protocol(endpoint)

    def send(self, resource_uri, action, sel, body):
        r = self.p.send_message(envelope(self.endpoint, resource_uri, action, sel, body))
        return ET.fromstring(r).find("{%s}Body" % S)

    def get(self, cls, sel):
        return parse_instance(self.send(uri(cls), GET, sel, "<s:Body/>")[0])

    def enumerate(self, resource_uri, wql=None):
        f = '<w:Filter Dialect="%s">%s</w:Filter>' % (WQL, escape(wql)) if wql else ""
        body = self.send(resource_uri, ENUMERATE, [],
                         "<s:Body><n:Enumerate xmlns:n=\"%s\"><w:OptimizeEnumeration/><w:MaxElements>%d</w:MaxElements>%s"
                         "</n:Enumerate></s:Body>" % (N, PAGE, f))
        resp = body.find("{%s}EnumerateResponse" % N)
        items = [parse_instance(i) for i in resp.findall("{%s}Items/*" % W)]
        end = resp.find("{%s}EndOfSequence" % W) is not None
        ctx = resp.findtext("{%s}EnumerationContext" % N)
        while not end:
            body = self.send(resource_uri, PULL, [],
                             "<s:Body><n:Pull xmlns:n=\"%s\"><n:EnumerationContext>%s</n:EnumerationContext>"
                             "<n:MaxElements>%d</n:MaxElements></n:Pull></s:Body>" % (N, ctx, PAGE))
            resp = body.find("{%s}PullResponse" % N)
            items += [parse_instance(i) for i in resp.findall("{%s}Items/*" % N)]
            end = resp.find("{%s}EndOfSequence" % N) is not None
            ctx = resp.findtext("{%s}EnumerationContext" % N) or ctx
        return items

    def invoke(self, cls, sel, method, params):
        body = self.send(uri(cls), uri(cls) + "/" + method, sel,
                         '<s:Body><p:%s_INPUT xmlns:p="%s" xmlns:xsi="%s">%s</p:%s_INPUT></s:Body>'
                         % (method, uri(cls), XSI, params, method))
        out = body[0]
        rv = int(out.findtext("{%s}ReturnValue" % uri(cls)))
        job = out.find(".//{%s}Selector[@Name='InstanceID']" % W)
        if rv == 4096:
            return job.text
        if rv != 0:
            raise RuntimeError("%s returned %d" % (method, rv))
        return None

    # ---- Hyper-V steps

    def find_vm(self, name):
        q = "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'" % name.replace("\\", "\\\\").replace("'", "\\'")
        found = [i for i in self.enumerate(NS_URI + "/*", q) if scalar(i, "ElementName") == name]
        if len(found) != 1:
            raise RuntimeError("%d VMs named %s on %s" % (len(found), name, self.endpoint))
        return found[0]

    def vms(self):
        return [i for i in self.enumerate(uri("Msvm_ComputerSystem"))
                if re.fullmatch(r"[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}", scalar(i, "Name") or "")]

    def status(self, vm):
        rid = "Microsoft:%s\\HVR\\0" % scalar(vm, "Name")
        rel = self.get("Msvm_ReplicationRelationship", [("InstanceID", rid)])
        rsd = self.get("Msvm_ReplicationSettingData", [("InstanceID", rid)])
        return {"vm": scalar(vm, "ElementName"), "mode": scalar(vm, "ReplicationMode"),
                "state": scalar(vm, "ReplicationState"), "health": scalar(vm, "ReplicationHealth"),
                "relationship_state": scalar(rel, "ReplicationState"),
                "recovery_connection_point": scalar(rsd, "RecoveryConnectionPoint")}

    def start_reverse(self, vm):
        guid = scalar(vm, "Name")
        rsd = self.get("Msvm_ReplicationSettingData", [("InstanceID", "Microsoft:%s\\HVR\\0" % guid)])
        rsd["RecoveryConnectionPoint"] = [scalar(rsd, "PrimaryConnectionPoint")]
        params = ("<p:ComputerSystem>%s</p:ComputerSystem><p:ReplicationSettingData>%s"
                  "</p:ReplicationSettingData>" % (vm_ref(guid), escape(cimxml("Msvm_ReplicationSettingData", rsd, RSD_MOF))))
        return self.invoke("Msvm_ReplicationService", [("CreationClassName", "Msvm_ReplicationService")],
                           "ReverseReplicationRelationship", params)

    def request_state(self, vm, method, state):
        params = "<p:RequestedState>%d</p:RequestedState>" % state
        if method == "RequestReplicationStateChangeEx":
            params = '<p:ReplicationRelationship xsi:nil="true"/>' + params + '<p:TimeoutPeriod xsi:nil="true"/>'
        sel = [("CreationClassName", "Msvm_ComputerSystem"), ("Name", scalar(vm, "Name"))]
        return self.invoke("Msvm_ComputerSystem", sel, method, params)

    def failover(self, vm):
        params = ('<p:ComputerSystem>%s</p:ComputerSystem><p:SnapshotSettingData xsi:nil="true"/>'
                  % vm_ref(scalar(vm, "Name")))
        return self.invoke("Msvm_ReplicationService", [("CreationClassName", "Msvm_ReplicationService")],
                           "InitiateFailover", params)

    def wait(self, job_ids):
        """Polls every job at a fixed interval until all have ended; raises on a failed job."""
        pending = [j for j in job_ids if j]
        polls = 0
        while pending:
            still = []
            for j in pending:
                job = self.get("Msvm_ConcreteJob", [("InstanceID", j)])
                polls += 1
                st = int(scalar(job, "JobState"))
                if st == 7:
                    continue
                if st > 7:
                    raise RuntimeError("job %s ended in state %d: %s" % (j, st, scalar(job, "ErrorDescription")))
                still.append(j)
            pending = still
            if pending:
                time.sleep(POLL_INTERVAL_S)
        return polls

    def read_back(self, vm):
        i = self.get("Msvm_ComputerSystem", [("CreationClassName", "Msvm_ComputerSystem"), ("Name", scalar(vm, "Name"))])
        return {"vm": scalar(i, "ElementName"), "mode": scalar(i, "ReplicationMode"),
                "state": scalar(i, "ReplicationState"), "enabled": scalar(i, "EnabledState")}


def reverse_on(h, vms):
    jobs = [h.start_reverse(vm) for vm in vms]
    polls = h.wait(jobs)
    return {"polls": polls, "after": [h.read_back(vm) for vm in vms]}


def report(started, **kw):
    kw["wall_s"] = time.perf_counter() - started
    kw["done_s"] = time.time()
    print(json.dumps(kw))


def main(argv):
    cmd = argv[1]
    if cmd == "loop":
        return loop(argv[2], argv[3], int(argv[4]))
    if cmd == "identify":
        return identify(argv[2])
    t0 = time.perf_counter()
    if cmd == "list":
        h = Host(argv[2])
        report(t0, vms=len(h.vms()))
    elif cmd == "status":
        h = Host(argv[2])
        report(t0, status=[h.status(h.find_vm(n)) for n in argv[3:]])
    elif cmd == "reverse":
        h = Host(argv[2])
        report(t0, **reverse_on(h, [h.find_vm(n) for n in argv[3:]]))
    elif cmd == "failover":
        p, r, name = Host(argv[2]), Host(argv[3]), argv[4]
        vm = p.find_vm(name)
        if scalar(vm, "EnabledState") != "3":
            p.wait([p.request_state(vm, "RequestStateChange", 3)])
        p.wait([p.request_state(vm, "RequestReplicationStateChangeEx", 4)])
        vm_r = r.find_vm(name)
        r.wait([r.failover(vm_r)])
        r.wait([r.start_reverse(vm_r)])
        r.wait([r.request_state(vm_r, "RequestStateChange", 2)])
        report(t0, after=r.read_back(vm_r))
    elif cmd in ("fleet-status", "fleet-reverse"):
        endpoints, names = argv[2].split(","), set(argv[3:])

        def one(endpoint):
            h = Host(endpoint)
            vms = [vm for vm in h.vms() if scalar(vm, "ElementName") in names]
            if cmd == "fleet-status":
                return {"status": [h.status(vm) for vm in vms]}
            return reverse_on(h, vms)

        with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
            results = list(pool.map(one, endpoints))
        found = sum(len(r.get("status") or r.get("after")) for r in results)
        if found != len(names):
            raise RuntimeError("found %d of %d VMs" % (found, len(names)))
        report(t0, hosts=len(endpoints), vms=found, polls=sum(r.get("polls", 0) for r in results))
    else:
        sys.exit(__doc__)
    return None


# ---------------------------------------------------------------------------- per request

def loop(endpoint, vm, n):
    p = protocol(endpoint)
    cs = NS_URI + "/Msvm_ComputerSystem"
    svc = NS_URI + "/Msvm_ReplicationService"
    cs_sel = [("CreationClassName", "Msvm_ComputerSystem"), ("Name", vm)]
    svc_sel = [("CreationClassName", "Msvm_ReplicationService")]
    get_action = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
    invoke_body = (
        '<s:Body><p:InitiateFailover_INPUT xmlns:p="%s"><p:ComputerSystem>%s'
        "</p:ComputerSystem></p:InitiateFailover_INPUT></s:Body>" % (svc, vm_ref(vm))
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
        'xmlns:wsmid="http://schemas.dmtf.org/wbem/identity/1/wsmanidentity.xsd">'
        "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
    )
    assert b"IdentifyResponse" in r


if __name__ == "__main__":
    main(sys.argv)
