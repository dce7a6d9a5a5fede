//! Ctrl-C: what was running when the run was interrupted. Every operation registers here
//! (per VM and host, or per job for `job wait`), learns its job id from the progress callback
//! as soon as the host names it, and leaves its record when it ends; the interrupt handler
//! turns what is left into "interrupted" records that say which jobs go on where.

use std::sync::{Arc, Mutex, MutexGuard};

use hyperv::error::shell_quote;

use crate::exit::{Classified, ExitClass};
use crate::output::Record;

/// One operation of the run.
#[derive(Debug)]
struct Entry {
    command: String,
    host: String,
    vm: Option<String>,
    /// Its permit was granted: requests were (or are being) sent for it.
    started: bool,
    /// The host's job, once named.
    job_id: Option<String>,
    /// Its record, once it ended.
    done: Option<Record>,
    /// It ended without a record of its own (what it did is in a later record).
    closed: bool,
}

/// The operations of a run (shared by the commands and the interrupt handler).
#[derive(Debug, Clone, Default)]
pub struct Inflight(Arc<Mutex<Vec<Entry>>>);

/// An operation's place in [`Inflight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl Inflight {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an operation (not started yet); `job_id` when it follows a known job.
    pub fn register(&self, command: &str, host: &str, vm: Option<&str>, job_id: Option<&str>) -> Slot {
        let mut v = self.lock();
        v.push(Entry {
            command: command.to_owned(),
            host: host.to_owned(),
            vm: vm.map(str::to_owned),
            started: false,
            job_id: job_id.map(str::to_owned),
            done: None,
            closed: false,
        });
        Slot(v.len() - 1)
    }

    /// A record that ended without running (a failed lookup), in the run's order.
    pub fn record(&self, record: &Record) {
        let slot = self.register(
            &record.command,
            record.host.as_deref().unwrap_or(""),
            record.vm.as_deref(),
            None,
        );
        self.finish(slot, record);
    }

    /// The operation now runs.
    pub fn start(&self, slot: Slot) {
        if let Some(e) = self.lock().get_mut(slot.0) {
            e.started = true;
        }
    }

    /// The host named the operation's job.
    pub fn job(&self, slot: Slot, job_id: &str) {
        if let Some(e) = self.lock().get_mut(slot.0) {
            if e.job_id.as_deref() != Some(job_id) {
                e.job_id = Some(job_id.to_owned());
            }
        }
    }

    /// The operation ended with `record`.
    pub fn finish(&self, slot: Slot, record: &Record) {
        if let Some(e) = self.lock().get_mut(slot.0) {
            e.done = Some(record.clone());
        }
    }

    /// The operation ended and has no record of its own: an interrupted run leaves it out.
    pub fn close(&self, slot: Slot) {
        if let Some(e) = self.lock().get_mut(slot.0) {
            e.closed = true;
        }
    }

    /// The records of an interrupted run: those that ended, and one `interrupted` record per
    /// operation still running, naming its job and the `hvctl job wait` that follows it. With
    /// nothing registered (interrupted while looking up or listing), one record for the run.
    pub fn interrupted(&self, command: &str) -> Vec<Record> {
        let v = self.lock();
        if v.is_empty() {
            let e = anyhow::Error::new(Classified::new(
                ExitClass::Interrupted,
                "interrupted before any operation started (nothing was changed)",
            ));
            return vec![Record::failed(command, None, None, &e)];
        }
        v.iter()
            .filter(|e| !e.closed)
            .map(|e| match &e.done {
                Some(r) => r.clone(),
                None => {
                    let err = anyhow::Error::new(Classified::new(ExitClass::Interrupted, e.message()));
                    Record::failed(&e.command, Some(&e.host), e.vm.as_deref(), &err)
                }
            })
            .collect()
    }
}

impl Entry {
    fn message(&self) -> String {
        let host = shell_quote(&self.host);
        match (&self.job_id, self.started) {
            (Some(j), _) => format!(
                "interrupted: job {j} continues on {}; follow it with `hvctl job wait {} --host {host}`",
                self.host,
                shell_quote(j)
            ),
            (None, true) => {
                let status = match &self.vm {
                    Some(vm) => format!(
                        "`hvctl replication status {} --host {host}` and ",
                        shell_quote(vm)
                    ),
                    None => String::new(),
                };
                format!(
                    "interrupted before {} named a job: it may have started one; check with {status}\
                     `hvctl wsman enumerate Msvm_ConcreteJob --host {host}`",
                    self.host
                )
            }
            (None, false) => format!(
                "interrupted before it started on {} (nothing was sent)",
                self.host
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_operations_become_interrupted_records_that_name_their_jobs() {
        let inf = Inflight::default();
        let a = inf.register("vm start", "hv01", Some("web"), None);
        let b = inf.register("vm start", "hv01", Some("db"), None);
        let c = inf.register("vm start", "hv02", Some("app"), None);
        inf.start(a);
        inf.start(b);
        inf.job(a, "JOB-1");
        let ok = Record::ok(
            "vm start",
            Some("hv01"),
            Some("db"),
            serde_json::Value::Null,
            String::new(),
        );
        inf.finish(b, &ok);
        let _ = c;
        let recs = inf.interrupted("vm start");
        assert_eq!(recs.len(), 3);
        let msg = |i: usize| recs[i].error.as_ref().unwrap().message.clone();
        assert_eq!(recs[0].class(), ExitClass::Interrupted);
        assert!(
            msg(0).contains("`hvctl job wait JOB-1 --host hv01`"),
            "{}",
            msg(0)
        );
        assert!(recs[1].ok);
        assert!(msg(2).contains("before it started on hv02"), "{}", msg(2));
        let empty = Inflight::default().interrupted("vm list");
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].class(), ExitClass::Interrupted);
        assert_eq!(empty[0].error.as_ref().unwrap().exit_code, 130);
    }
}
