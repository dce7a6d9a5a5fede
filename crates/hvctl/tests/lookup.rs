//! End to end: a command naming many VMs on several hosts looks them up with one query per host
//! (an OR of the names), not one per (host, VM), against simulated hosts over NTLM with
//! encryption. Each VM lives on one host; the others report nothing for it.
#![allow(clippy::unwrap_used)]

mod support;

use hyperv_sim::{SimConfig, SimHost};

use support::{hvctl, runtime, Run, USER};

const HOSTS: usize = 3;
const VMS_PER_HOST: usize = 4;

#[test]
fn status_of_many_vms_on_many_hosts_is_one_lookup_per_host() {
    let rt = runtime();
    let password = hyperv_sim::random_password().to_string();
    let hosts: Vec<SimHost> = (0..HOSTS)
        .map(|h| {
            let mut cfg = SimConfig::new(&format!("HV{h:02}")).user(USER, &password);
            cfg.vms = (0..VMS_PER_HOST).map(|v| format!("h{h}vm{v}")).collect();
            rt.block_on(SimHost::start(cfg)).unwrap()
        })
        .collect();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = hvctl(home.path());
    cmd.env("HVCTL_PASSWORD", &password)
        .args(["--auth", "ntlm", "--user", USER]);
    for h in &hosts {
        cmd.arg("--host").arg(h.addr().to_string());
    }
    cmd.args(["-o", "json", "replication", "status"]);
    let names: Vec<String> = (0..HOSTS)
        .flat_map(|h| (0..VMS_PER_HOST).map(move |v| format!("h{h}vm{v}")))
        .collect();
    cmd.args(&names);
    let (results, summary) = Run::of(cmd, None).expect(0).json_lines();

    assert_eq!(summary["total"], HOSTS * VMS_PER_HOST, "{summary}");
    let reported: Vec<&str> = results.iter().map(|r| r["vm"].as_str().unwrap()).collect();
    assert_eq!(reported, names, "each VM once, in the order named");
    for r in &results {
        assert_eq!(r["ok"], true, "{r}");
        let vm = r["vm"].as_str().unwrap();
        let host = &hosts[usize::from(vm.as_bytes()[1] - b'0')];
        assert_eq!(r["host"], host.addr().to_string(), "{r}");
    }
    for h in &hosts {
        let st = h.stats();
        // One WQL lookup for all 12 names; the VMs are not replicated, so status reads
        // nothing more.
        assert_eq!(st.count("Enumerate"), 1, "{st:?}");
        assert_eq!(st.requests, 1, "{st:?}");
    }
}
