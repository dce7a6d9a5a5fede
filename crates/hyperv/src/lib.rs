//! Hyper-V domain model and replication workflow over WS-Management.
//!
//! - [`Wsman`]: what the domain needs from a transport (hvctl implements it over
//!   `winrm_client::Client`); sleeps and the clock come through it, so the workflow is
//!   deterministic under test.
//! - [`model`]: typed replication mode/state/health, power state, job state, method return
//!   codes, and the PowerShell names ([`PsReplicationState`]).
//! - [`msvm`]: typed views of `Msvm_ComputerSystem`, `Msvm_ReplicationSettingData`,
//!   `Msvm_ReplicationRelationship`, `Msvm_ConcreteJob`, `Msvm_Error`; the RSD MOF schema.
//! - [`query`]: finding VMs (WQL with `CannotProcessFilter` fallback, or by GUID), settings,
//!   relationship, recovery points, the replication service.
//! - [`job`]: invoking a method exactly once and following its job, polled when its progress
//!   says it should end (backoff when it gives no hint).
//! - [`ops`]: reverse replication and the planned-failover workflow, VM power, status.
//! - [`health`]: replication statistics and health (`Measure-VMReplication`), suspend, resume,
//!   resynchronize.
//! - [`drill`]: DR drills: recovery points, test failover and the removal of its test VM.
//! - [`planned`]: the whole planned failover of a VM as one sequence, resumed from the states
//!   both hosts show.
//!
//! No tokio, no HTTP: every I/O goes through [`Wsman`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod drill;
pub mod error;
pub mod health;
pub mod job;
pub mod model;
pub mod msvm;
pub mod ops;
pub mod planned;
pub mod query;
pub mod report;
pub mod transport;

pub use drill::{
    list_recovery_points, pick_recovery_point, recovery_points, stop_test_failover, test_failover,
    test_system, RecoveryPoint, RecoveryPointsReport, TestVm,
};
pub use error::{Error, ErrorClass};
pub use health::{
    measure_replication, resume_replication, resync_replication, suspend_replication, HealthOp,
    MeasureReport, ReplicationStatistics,
};
pub use job::{
    invoke_and_wait, job_errors, show_job, wait_job, JobProgress, JobReport, JobWaitOptions, MethodResult,
    Progress, Target,
};
pub use model::{
    EnabledState, JobState, PsReplicationState, ReplicationAuth, ReplicationHealth, ReplicationMode,
    ReplicationState, ReturnCode,
};
pub use msvm::{Job, MsvmError, ReplicationRelationship, ReplicationSettings, Vm, RSD_SCHEMA};
pub use ops::{
    cancel_failover, commit_failover, plan, plan_reverse, prepare_failover, replication_status,
    reverse_replication, save_vm, shutdown_vm, start_failover, start_vm, stop_vm, Planned, ReverseOptions,
    StopMode,
};
pub use planned::{
    plan_planned, planned_failover, Event, PlannedOptions, PlannedPair, PlannedRun, Step, StepReport,
    StepStatus,
};
pub use query::{
    find_vm, find_vm_by_guid, find_vm_by_name, find_vms, list_vms, locate, management_service,
    replication_relationship, replication_service, replication_settings, shutdown_component, vms_query,
    wql_string, VmRef, VmTarget, MAX_NAMES_PER_QUERY,
};
pub use report::{Operation, OperationReport, PlanReport, ReverseDetails, StatusReport, VmState};
pub use transport::{TransportError, Wsman};
