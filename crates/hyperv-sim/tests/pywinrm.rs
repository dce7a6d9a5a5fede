//! Fidelity proof: pywinrm, an independent WinRM client, talks to the simulator with NTLM and
//! message encryption (`message_encryption='always'`), sending a raw Get and a raw Invoke
//! envelope with `Protocol.send_message`. The peer is installed by `scripts/install-peers.sh`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use hyperv_sim::{start_pair, PairConfig};
use wsman_soap::response::{parse_response, MethodOutput, ResponseBody};
use wsman_soap::Limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pywinrm_gets_and_invokes_over_ntlm_with_encryption() {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    let password: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let cfg = PairConfig {
        job_duration: Duration::from_millis(100),
        ..PairConfig::default()
    }
    .user("HV\\operator", &password);
    let (primary, replica) = start_pair(cfg).await.unwrap();
    let vm = replica.vm_id("demo-vm").unwrap();
    let endpoint = replica.endpoint();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pywinrm_client.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let vm2 = vm.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&endpoint)
            .arg("HV\\operator")
            .arg(&vm2)
            .env("HVSIM_PASSWORD", &password)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 must be installed (scripts/install-peers.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pywinrm client failed (run scripts/install-peers.sh for pywinrm):\n{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let get = parse_response(v["get"].as_str().unwrap().as_bytes(), &Limits::default()).unwrap();
    let ResponseBody::Instance(cs) = get.body else {
        panic!("get: {:?}", get.body)
    };
    assert_eq!(cs.class_name, "Msvm_ComputerSystem");
    assert_eq!(cs.get_str("Name"), Some(vm.as_str()));
    assert_eq!(cs.get_str("ElementName"), Some("demo-vm"));
    assert_eq!(
        (cs.get_u16("ReplicationMode"), cs.get_u16("ReplicationState")),
        (Some(2), Some(3))
    );

    let inv = parse_response(v["invoke"].as_str().unwrap().as_bytes(), &Limits::default()).unwrap();
    assert!(inv
        .header
        .action
        .as_deref()
        .unwrap()
        .ends_with("/Msvm_ReplicationService/InitiateFailoverResponse"));
    let ResponseBody::Instance(o) = inv.body else {
        panic!("invoke: {:?}", inv.body)
    };
    let o = MethodOutput::from_instance(o).unwrap();
    assert_eq!(o.method, "InitiateFailover");
    assert_eq!(o.return_value, Some(4096));
    assert!(o.job_instance_id().is_some());

    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let w = replica.world();
        let mut w = w.lock().unwrap();
        w.advance(std::time::SystemTime::now());
        let r = w.vm(replica.host_id(), &vm).unwrap().replication.clone().unwrap();
        assert_eq!(r.state, 5, "the invoke sent by pywinrm failed the VM over");
    }
    let s = replica.stats();
    assert!(s.handshakes >= 1);
    assert_eq!((s.count("Get"), s.count("Invoke:InitiateFailover")), (1, 1));
    assert_eq!(s.count("refused-unencrypted"), 0);
    primary.shutdown().await;
    replica.shutdown().await;
}
