#!/usr/bin/env python3
"""hvctl benchmarks, side by side with pywinrm, on this machine (see BENCHMARKS.md).

Usage: benches/run.py [--only per_request,cold_start,round_trips,round_trips_wan,fleet,criterion]
                      [--n 300] [--repeat 3] [--fleet-hosts 100] [--fleet-vms 10]
                      [--latency-ms 30] [--job-ms 1500] [--wan-fleet-hosts 20] [--wan-fleet-vms 3]
Needs: target/release/hvctl and the hvbench harness built (benches/run.sh builds both),
pywinrm, hyperfine (cold start), /usr/bin/time (fleet peak RSS).

Every server is `hvbench serve` (simulated Hyper-V hosts from crates/hyperv-sim, NTLM with
message encryption, as a default Windows listener) in its own process on 127.0.0.1; it stops
when this script closes its stdin. Client CPU time is the client process's user+system time
from wait4(2), so it counts every thread; per-request figures subtract a run with no loop
(process start, connection and NTLM handshake) from a run with N Gets and N Invokes.
Results go to benches/results/<UTC time>.json and a Markdown summary to stdout.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")
PASSWORD = "Bench-Pa55-" + os.urandom(4).hex()
PY = sys.executable


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def binary(name):
    path = os.path.join(target_dir(), "release", name)
    if not os.path.exists(path):
        sys.exit(f"missing {path}: run benches/run.sh (it builds hvctl and hvbench)")
    return path


def env_with(**kw):
    env = dict(os.environ)
    env["HVBENCH_PASSWORD"] = PASSWORD
    env["HVCTL_PASSWORD"] = PASSWORD
    env.update({k: str(v) for k, v in kw.items()})
    return env


class Server:
    """`hvbench serve ...` in its own process; commands on stdin, JSON lines on stdout."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [binary("hvbench"), "serve", *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env_with(),
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"hvbench serve failed (exit {self.proc.returncode})")
        self.info = json.loads(line)

    def cmd(self, c):
        self.proc.stdin.write(c + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_measured(cmd, env, timeout=3600):
    """Runs cmd; returns (exit code, stdout, stderr, wall s, cpu s, max RSS KiB) from wait4."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(), err.read().decode(), wall,
                ru.ru_utime + ru.ru_stime, ru.ru_maxrss)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


# ---------------------------------------------------------------------------- per request

def measure_loop(cmd, n, repeat, stats=None):
    """CPU per request of `cmd(k)` (k = pairs of requests): median of `repeat` runs with k = n
    minus the median with k = 0, over 2n requests. `stats` returns the server's counters."""
    base, full, walls = [], [], []
    conns = reqs = None
    for _ in range(repeat):
        for k, acc in ((0, base), (n, full)):
            before = stats() if stats else None
            code, out, err, wall, cpu, rss = run_measured(cmd(k), env_with())
            if code != 0:
                raise RuntimeError(f"{cmd(k)[0]} failed: {err.strip()[-2000:]}")
            doc = json.loads(out.strip().splitlines()[-1])
            acc.append(cpu)
            if k == n:
                walls.append(doc["wall_s"])
                if stats:
                    after = stats()
                    conns = after["connections"] - before["connections"]
                    reqs = after["requests"] - before["requests"]
    res = {
        "cpu_per_request_us": (statistics.median(full) - statistics.median(base)) / (2 * n) * 1e6,
        "wall_per_request_us": statistics.median(walls) / (2 * n) * 1e6,
        "process_cpu_s_no_loop": statistics.median(base),
        "process_cpu_s_with_loop": statistics.median(full),
    }
    if stats:
        res["connections_per_run"] = conns
        res["server_requests_per_run"] = reqs
    return res


class FloorServer:
    """`hvbench floor-serve`: canned replies of the simulator's sizes (see floor.rs)."""

    def __init__(self):
        self.proc = subprocess.Popen([binary("hvbench"), "floor-serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def per_request(n, repeat):
    results = {}
    with Server("--plain-vms", 1) as srv:
        endpoint = srv.info["endpoints"][0]
        vm = srv.info["host0_vms"][0]["id"]
        results["hvctl (winrm-client)"] = measure_loop(
            lambda k: [binary("hvbench"), "client", "--endpoint", endpoint, "--vm", vm, "--n", str(k)],
            n, repeat, lambda: srv.cmd("stats"))
        results["pywinrm"] = measure_loop(
            lambda k: [PY, os.path.join(BENCHES, "pywinrm_client.py"), "loop", endpoint, vm, str(k)],
            n, repeat, lambda: srv.cmd("stats"))
    # The floors (floor.rs): the same exchange with blocking write/read and nothing else, and
    # through a bare reqwest client and a bare hyper connection (no sealing, no XML).
    with FloorServer() as fs:
        for name, via in (("floor", "socket"), ("reqwest alone", "reqwest"), ("hyper alone", "hyper")):
            results[name] = measure_loop(
                lambda k, via=via: [binary("hvbench"), "floor-client", "--port", str(fs.port), "--n", str(k),
                                    "--via", via], n, repeat)
    ours, theirs, floor = results["hvctl (winrm-client)"], results["pywinrm"], results["floor"]
    results["ratio_cpu"] = theirs["cpu_per_request_us"] / ours["cpu_per_request_us"]
    results["ratio_wall"] = theirs["wall_per_request_us"] / ours["wall_per_request_us"]
    # The best ratio any client could reach here: pywinrm against the bare socket exchange.
    results["ratio_cpu_pywinrm_vs_floor"] = theirs["cpu_per_request_us"] / floor["cpu_per_request_us"]
    # The best a client built on reqwest could reach: pywinrm against reqwest doing nothing else.
    results["ratio_cpu_pywinrm_vs_reqwest"] = theirs["cpu_per_request_us"] / results["reqwest alone"]["cpu_per_request_us"]
    results["n"] = n
    results["repeat"] = repeat
    return results


# ---------------------------------------------------------------------------- cold start

def cold_start(runs):
    if not shutil.which("hyperfine"):
        return {"skipped": "hyperfine not installed (apt-get install hyperfine)"}
    hvctl = binary("hvctl")
    with Server("--plain-vms", 1) as srv:
        port = srv.info["ports"][0]
        endpoint = srv.info["endpoints"][0]
        env = env_with(HVCTL_HOST="127.0.0.1", HVCTL_PORT=port, HVCTL_AUTH="ntlm", HVCTL_USER="HV\\bench")
        # Sanity check before timing: the identify must succeed.
        code, out, err, *_ = run_measured([hvctl, "wsman", "identify"], env)
        if code != 0:
            return {"error": f"hvctl wsman identify failed ({code}): {err.strip()[-1000:]}"}
        commands = {
            "hvctl --version": f"{hvctl} --version",
            "hvctl wsman identify": f"{hvctl} wsman identify",
            "python -c 'import winrm'": f"{PY} -c 'import winrm'",
            "pywinrm identify": f"{PY} {os.path.join(BENCHES, 'pywinrm_client.py')} identify {endpoint}",
        }
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            cmd = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", f.name, "--style", "basic"]
            for name, c in commands.items():
                cmd += ["-n", name, c]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                return {"error": p.stderr[-2000:]}
            data = json.load(open(f.name))
        res = {r["command"]: {"mean_ms": r["mean"] * 1e3, "stddev_ms": r["stddev"] * 1e3,
                              "user_ms": r["user"] * 1e3, "system_ms": r["system"] * 1e3}
               for r in data["results"]}
        res["ratio_version_vs_import"] = res["python -c 'import winrm'"]["mean_ms"] / res["hvctl --version"]["mean_ms"]
        res["ratio_identify"] = res["pywinrm identify"]["mean_ms"] / res["hvctl wsman identify"]["mean_ms"]
        res["runs"] = runs
        return res


# ---------------------------------------------------------------------------- round trips

def round_trips():
    hvctl = binary("hvctl")
    res = {}
    # (label, job duration, HVCTL_PER_HOST or None for the default)
    for label, job_ms, per_host in (("job_0ms", 0, None), ("job_3000ms", 3000, None),
                                    ("job_0ms_per_host_1", 0, 1)):
        with Server("--failed-over", 1, "--plain-vms", 0, "--job-ms", job_ms) as srv:
            port = srv.info["ports"][0]
            env = env_with(HVCTL_HOST="127.0.0.1", HVCTL_PORT=port, HVCTL_AUTH="ntlm", HVCTL_USER="HV\\bench")
            if per_host:
                env["HVCTL_PER_HOST"] = str(per_host)
            code, out, err, wall, cpu, rss = run_measured(
                [hvctl, "--no-progress", "replication", "reverse", "vm-000"], env)
            stats = srv.cmd("stats")
            check = srv.cmd("check")
            res[label] = {
                "exit": code, "wall_s": wall, "requests": stats["requests"], "by_action": stats["by_action"],
                # Each NTLM handshake is two extra HTTP requests (NEGOTIATE -> 401, AUTHENTICATE).
                "http_requests": stats["requests"] + 2 * stats["handshakes"],
                "connections": stats["connections"], "handshakes": stats["handshakes"],
                "unauthorized_401": stats["unauthorized"], "vm_states_after": check["states"],
                "stderr_tail": err.strip()[-600:] if code != 0 else "",
            }
    return res


# ---------------------------------------------------------------------------- round trips over a WAN

def hvctl_steps(steps, env):
    """Runs hvctl commands one after the other; returns (exit of the first failure or 0, wall s,
    epoch s at the end, stderr tail)."""
    wall, code, tail = 0.0, 0, ""
    end = time.time()
    for args in steps:
        start = time.time()
        c, out, err, w, cpu, rss = run_measured([binary("hvctl"), "--no-progress", *args], env)
        wall += w
        end = start + w
        if c != 0:
            return c, wall, end, err.strip()[-600:]
    return code, wall, end, tail


def pywinrm_run(args):
    """Runs pywinrm_client.py; returns (exit, in-script wall s, process wall s, epoch s at the
    end, its JSON line or the stderr tail)."""
    start = time.time()
    c, out, err, w, cpu, rss = run_measured([PY, os.path.join(BENCHES, "pywinrm_client.py"), *args], env_with())
    end = start + w
    if c != 0:
        return c, None, w, end, err.strip()[-600:]
    doc = json.loads(out.strip().splitlines()[-1])
    return c, doc["wall_s"], w, end, doc


def completion_to_done_ms(srv, end):
    """Milliseconds from the completion of the last job the simulator ran to `end` (epoch s)."""
    done = [j["completed_s"] for j in srv.cmd("jobs")["jobs"] if j["completed_s"]]
    return (end - max(done)) * 1e3 if done else None


def counted(srv):
    st = srv.cmd("stats")
    return {k: st[k] for k in ("exchanges", "requests", "connections", "handshakes", "unauthorized", "by_action")}


def round_trips_wan(latency_ms, job_ms, fleet_hosts, fleet_vms):
    """Each command with hvctl and with the pywinrm client over an emulated link (every HTTP
    exchange `latency_ms` slower), against fresh simulated hosts for each client."""
    hvctl_env = env_with(HVCTL_AUTH="ntlm", HVCTL_USER="HV\\bench")
    lat = ["--latency-ms", latency_ms, "--job-ms", job_ms]
    rows = []

    def measure(label, server_args, hvctl_steps_of, pywinrm_args_of, check=None, jobs=False):
        row = {"row": label}
        for client in ("hvctl", "pywinrm"):
            with Server(*server_args, *lat) as srv:
                if client == "hvctl":
                    code, wall, end, tail = hvctl_steps(hvctl_steps_of(srv), hvctl_env)
                    res = {"exit": code, "wall_s": wall, "stderr_tail": tail}
                else:
                    code, wall, pwall, end, doc = pywinrm_run(pywinrm_args_of(srv))
                    res = {"exit": code, "wall_s": wall, "process_wall_s": pwall,
                           "output": doc if code == 0 else None, "stderr_tail": "" if code == 0 else doc}
                res.update(counted(srv))
                if jobs:
                    res["completion_to_done_ms"] = completion_to_done_ms(srv, end)
                if check:
                    res["states_after"] = srv.cmd("check")["states"]
                    res["ok"] = res["states_after"] == check
                row[client] = res
        if row["hvctl"]["wall_s"] and row["pywinrm"]["wall_s"]:
            row["ratio_wall"] = row["pywinrm"]["wall_s"] / row["hvctl"]["wall_s"]
        rows.append(row)
        print(f"   {label}: hvctl {row['hvctl']['exchanges']} exchanges {row['hvctl']['wall_s']:.3f} s, "
              f"pywinrm {row['pywinrm']['exchanges']} exchanges {row['pywinrm']['wall_s'] or 0:.3f} s",
              file=sys.stderr, flush=True)

    def host(srv, i=0, primary=False):
        return f"127.0.0.1:{srv.info['primary_ports' if primary else 'ports'][i]}"

    def endpoint(srv, i=0, primary=False):
        return srv.info["primary_endpoints" if primary else "endpoints"][i]

    for n in (30, 300):
        measure(f"vm list, {n} VMs", ("--plain-vms", n),
                lambda srv: [["--host", host(srv), "-o", "json", "vm", "list"]],
                lambda srv: ["list", endpoint(srv)])
    measure("replication status, 1 VM", ("--failed-over", 1, "--plain-vms", 0),
            lambda srv: [["--host", host(srv), "-o", "json", "replication", "status", "vm-000"]],
            lambda srv: ["status", endpoint(srv), "vm-000"])
    measure("replication reverse, 1 VM", ("--failed-over", 1, "--plain-vms", 0),
            lambda srv: [["--host", host(srv), "-o", "json", "replication", "reverse", "vm-000"]],
            lambda srv: ["reverse", endpoint(srv), "vm-000"],
            check={"Primary/Replicating": 1}, jobs=True)
    vm = "rep-000"
    measure("planned failover, 1 VM (stop, prepare, fail over, reverse, start)",
            ("--replicating", 1, "--plain-vms", 0, "--primaries"),
            lambda srv: [["--host", host(srv, primary=True), "vm", "stop", vm],
                         ["--host", host(srv, primary=True), "failover", "prepare", vm],
                         ["--host", host(srv), "failover", "start", vm],
                         ["--host", host(srv), "replication", "reverse", vm],
                         ["--host", host(srv), "vm", "start", vm]],
            lambda srv: ["failover", endpoint(srv, primary=True), endpoint(srv), vm],
            check={"Primary/Replicating": 1}, jobs=True)
    measure("planned failover, 1 VM, as one command (`failover planned --shutdown`)",
            ("--replicating", 1, "--plain-vms", 0, "--primaries"),
            lambda srv: [["-o", "json", "failover", "planned", vm, "--primary", host(srv, primary=True),
                          "--replica", host(srv), "--shutdown"]],
            lambda srv: ["failover", endpoint(srv, primary=True), endpoint(srv), vm],
            check={"Primary/Replicating": 1}, jobs=True)
    names = [f"h{h:03d}-vm-{v:03d}" for h in range(fleet_hosts) for v in range(fleet_vms)]
    inventory = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    inventory.close()

    def fleet_steps(srv, verb):
        with open(inventory.name, "w") as inv:
            inv.writelines(f"127.0.0.1:{p}\n" for p in srv.info["ports"])
        return [["--inventory", inventory.name, "-o", "json", "replication", verb, *names]]

    fleet_args = ("--hosts", fleet_hosts, "--failed-over", fleet_vms, "--plain-vms", 0, "--distinct-names")
    for verb in ("status", "reverse"):
        measure(f"fleet: {verb} of {fleet_vms} VMs on each of {fleet_hosts} hosts", fleet_args,
                lambda srv, verb=verb: fleet_steps(srv, verb),
                lambda srv, verb=verb: [f"fleet-{verb}", ",".join(srv.info["endpoints"]), *names],
                check={"Primary/Replicating": fleet_hosts * fleet_vms} if verb == "reverse" else None,
                jobs=verb == "reverse")
    os.unlink(inventory.name)
    return {"latency_ms": latency_ms, "job_ms": job_ms, "fleet_hosts": fleet_hosts,
            "fleet_vms_per_host": fleet_vms, "pywinrm_poll_interval_s": 1.0, "rows": rows}


# ---------------------------------------------------------------------------- fleet

def fleet(hosts, vms):
    hvctl = binary("hvctl")
    time_bin = "/usr/bin/time"
    res = {"hosts": hosts, "vms_per_host": vms}
    names = [f"vm-{v:03d}" for v in range(vms)]
    for label, nhosts in (("serial_one_host", 1), ("fleet", hosts)):
        with Server("--hosts", nhosts, "--failed-over", vms, "--plain-vms", 0) as srv:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as inv:
                for port in srv.info["ports"]:
                    inv.write(f"127.0.0.1:{port}\n")
            env = env_with(HVCTL_AUTH="ntlm", HVCTL_USER="HV\\bench")
            cmd = [hvctl, "--no-progress", "--inventory", inv.name, "-o", "json", "replication", "reverse", *names]
            if os.path.exists(time_bin):
                cmd = [time_bin, "-v"] + cmd
            code, out, err, wall, cpu, rss = run_measured(cmd, env)
            os.unlink(inv.name)
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
            stats = srv.cmd("stats")
            check = srv.cmd("check")
            ok = check["states"].get("Primary/Replicating", 0)
            res[label] = {
                "exit": code, "wall_s": wall, "client_cpu_s": cpu,
                "peak_rss_mib": (int(m.group(1)) if m else rss) / 1024,
                "vms": nhosts * vms, "reversed": ok, "failures": nhosts * vms - ok,
                "requests": stats["requests"], "connections": stats["connections"],
                "by_action": stats["by_action"], "vm_states_after": check["states"],
                "stderr_tail": "\n".join(l for l in err.strip().splitlines() if "\t" not in l)[-800:] if code != 0 else "",
            }
    res["ratio_fleet_vs_serial"] = res["fleet"]["wall_s"] / res["serial_one_host"]["wall_s"]
    return res


# ---------------------------------------------------------------------------- criterion

def criterion():
    """Runs the crates' own criterion benches once (quick mode) and collects their estimates."""
    found = []
    for crate in sorted(os.listdir(os.path.join(ROOT, "crates"))):
        bdir = os.path.join(ROOT, "crates", crate, "benches")
        if os.path.isdir(bdir):
            found += [(crate, f[:-3]) for f in sorted(os.listdir(bdir)) if f.endswith(".rs")]
    if not found:
        return {"skipped": "no crates/*/benches/*.rs yet"}
    res = {}
    for crate, bench in found:
        p = subprocess.run(["nice", "-n", "19", "cargo", "bench", "-p", crate, "--bench", bench, "--",
                            "--warm-up-time", "1", "--measurement-time", "3"],
                           cwd=ROOT, capture_output=True, text=True)
        lines = [l for l in p.stdout.splitlines() if "time:" in l or "thrpt:" in l or
                 (l and not l.startswith(" ") and not l.startswith("Benchmarking") and "Found" not in l)]
        res[f"{crate}/{bench}"] = {"exit": p.returncode, "summary": lines[-40:],
                                   "stderr_tail": p.stderr[-800:] if p.returncode else ""}
    return res


# ---------------------------------------------------------------------------- main

def markdown(r):
    out = [f"Run {r['started']} on {r['machine']}, load average at start {r['load_start']}.", ""]
    if "per_request" in r and "ratio_cpu" in r["per_request"]:
        p = r["per_request"]
        out += ["| per request (Get + Invoke, NTLM sealed, one connection) | client CPU / request | wall / request |",
                "|---|---|---|"]
        for k in ("hvctl (winrm-client)", "pywinrm", "floor", "reqwest alone", "hyper alone"):
            out.append(f"| {k} | {p[k]['cpu_per_request_us']:.0f} µs | {p[k]['wall_per_request_us']:.0f} µs |")
        out.append(f"| pywinrm / hvctl | {p['ratio_cpu']:.1f}x | {p['ratio_wall']:.1f}x |")
        out.append(f"| pywinrm / floor (the best any client can reach here) | "
                   f"{p['ratio_cpu_pywinrm_vs_floor']:.1f}x | |")
        out.append(f"| pywinrm / reqwest alone (the best a reqwest-based client can reach) | "
                   f"{p['ratio_cpu_pywinrm_vs_reqwest']:.1f}x | |")
        out.append("")
    if "cold_start" in r and "ratio_identify" in r["cold_start"]:
        c = r["cold_start"]
        out += ["| cold start | mean | user+sys |", "|---|---|---|"]
        for k, v in c.items():
            if isinstance(v, dict):
                out.append(f"| `{k}` | {v['mean_ms']:.1f} ms ± {v['stddev_ms']:.1f} | {v['user_ms'] + v['system_ms']:.1f} ms |")
        out.append(f"| ratio import winrm / hvctl --version | {c['ratio_version_vs_import']:.1f}x | |")
        out.append(f"| ratio pywinrm identify / hvctl identify | {c['ratio_identify']:.1f}x | |")
        out.append("")
    if "round_trips" in r:
        for k, v in r["round_trips"].items():
            out.append(f"- round trips, {k}: exit {v['exit']}, {v['requests']} SOAP requests {v['by_action']}, "
                       f"{v['http_requests']} HTTP requests, "
                       f"{v['connections']} connection(s), {v['handshakes']} handshake(s), states after {v['vm_states_after']}")
        out.append("")
    if "round_trips_wan" in r and "rows" in r["round_trips_wan"]:
        w = r["round_trips_wan"]
        out += [f"Round trips over an emulated {w['latency_ms']} ms link (jobs take {w['job_ms']} ms; "
                f"pywinrm polls jobs every {w['pywinrm_poll_interval_s']} s):", "",
                "| command | hvctl exchanges | hvctl wall | pywinrm exchanges | pywinrm wall | ratio | "
                "completion to done, hvctl / pywinrm |", "|---|---|---|---|---|---|---|"]
        for row in w["rows"]:
            h, p = row["hvctl"], row["pywinrm"]
            c2d = ""
            if h.get("completion_to_done_ms") is not None and p.get("completion_to_done_ms") is not None:
                c2d = f"{h['completion_to_done_ms']:.0f} ms / {p['completion_to_done_ms']:.0f} ms"
            ok = "" if h["exit"] == 0 and p["exit"] == 0 and h.get("ok", True) and p.get("ok", True) else " (FAILED)"
            ratio = f"{row['ratio_wall']:.1f}x" if "ratio_wall" in row else ""
            out.append(f"| {row['row']}{ok} | {h['exchanges']} | {h['wall_s']:.2f} s | {p['exchanges']} | "
                       f"{(p['wall_s'] or 0):.2f} s | {ratio} | {c2d} |")
        out.append("")
    if "fleet" in r and "fleet" in r["fleet"]:
        f = r["fleet"]
        for k in ("serial_one_host", "fleet"):
            v = f[k]
            out.append(f"- {k}: {v['vms']} VMs, exit {v['exit']}, wall {v['wall_s']:.2f} s, client CPU {v['client_cpu_s']:.2f} s, "
                       f"peak RSS {v['peak_rss_mib']:.1f} MiB, reversed {v['reversed']}, failures {v['failures']}, "
                       f"{v['requests']} requests on {v['connections']} connections")
        out.append(f"- fleet wall / one host alone: {f['ratio_fleet_vs_serial']:.2f}x")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="per_request,cold_start,round_trips,round_trips_wan,fleet,criterion")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--fleet-hosts", type=int, default=100)
    ap.add_argument("--fleet-vms", type=int, default=10)
    ap.add_argument("--latency-ms", type=int, default=30)
    ap.add_argument("--job-ms", type=int, default=1500)
    ap.add_argument("--wan-fleet-hosts", type=int, default=20)
    ap.add_argument("--wan-fleet-vms", type=int, default=3)
    a = ap.parse_args()
    only = a.only.split(",")
    r = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "machine": f"{os.cpu_count()} CPUs, {os.uname().release}", "load_start": loadavg()}
    steps = {
        "per_request": lambda: per_request(a.n, a.repeat),
        "cold_start": lambda: cold_start(a.runs),
        "round_trips": round_trips,
        "fleet": lambda: fleet(a.fleet_hosts, a.fleet_vms),
        "round_trips_wan": lambda: round_trips_wan(a.latency_ms, a.job_ms, a.wan_fleet_hosts, a.wan_fleet_vms),
        "criterion": criterion,
    }
    failed = False
    for name in only:
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            r[name] = steps[name]()
        except Exception as e:  # record and go on: one missing piece must not hide the others
            r[name] = {"error": f"{type(e).__name__}: {e}"}
            failed = True
        print(json.dumps(r[name], indent=1)[:3000], file=sys.stderr, flush=True)
    r["load_end"] = loadavg()
    os.makedirs(os.path.join(BENCHES, "results"), exist_ok=True)
    path = os.path.join(BENCHES, "results", r["started"].replace(":", "") + ".json")
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    print(markdown(r))
    print(f"\nfull results: {os.path.relpath(path, ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
