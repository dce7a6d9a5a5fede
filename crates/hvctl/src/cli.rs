//! The raw command line (clap derive): validation only, no I/O.
//!
//! [`Cli`] is turned into a [`crate::config::Resolved`] (profile merged, credentials loaded,
//! endpoints built) before any network call.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ENVELOPE_SIZES;

/// Exit codes, shown at the end of `hvctl --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
    0  success
    1  other error
    2  usage error (bad arguments, configuration or profile)
    3  authentication failed (wrong password, access denied)
    4  not found (VM, job, class or instance)
    5  invalid state (the VM is not in a state that allows the operation)
    6  job failed (the host ran the operation and it failed)
    7  connection failed or timed out, no WinRM listener, or replies fail their integrity check
    8  outcome unknown (the request was sent but the reply was lost or altered: check before retrying)
  130  interrupted (Ctrl-C: started jobs go on; each is printed with its `hvctl job wait`)

Environment: every connection flag also reads HVCTL_<FLAG> (HVCTL_HOST, HVCTL_PORT, HVCTL_AUTH,
HVCTL_USER, ...). The password comes from HVCTL_PASSWORD, --password-stdin, or a prompt.

JSON output (-o json): one {\"type\":\"result\",...} line per item, then one
{\"type\":\"summary\",...} line, errors included (see OUTPUT.md). With jq:
  hvctl -o json replication status web01 db01 |
    jq -r 'select(.type==\"result\" and .ok)
           | [.host, .vm, .data.vm.ps_replication_state, .data.vm.replication_health]
           | @tsv'
  hvctl -o json vm stop web01 | jq -r 'select(.type==\"result\" and (.ok|not)) | .error.message'";

/// What `demo` and `sim serve` answer in a build without the simulator (cargo feature `sim`).
#[cfg(not(feature = "sim"))]
pub const NO_SIM: &str = "this hvctl was built without the simulator (cargo feature `sim`), so \
     `demo` and `sim serve` are not available: rebuild with the default features \
     (`cargo install --path crates/hvctl`, or `cargo install hvctl --features sim`)";

/// The one-line description in `--help` of a build without the simulator.
#[cfg(not(feature = "sim"))]
const LEAN_ABOUT: &str = "Hyper-V replication and WS-Management from Linux and macOS\n\n\
     This build has no simulator, so no `demo` or `sim serve`: rebuild with the default features \
     (`cargo install --path crates/hvctl`, or `cargo install hvctl --features sim`) to try hvctl \
     against simulated Hyper-V hosts.";

/// Hyper-V replication and WS-Management from Linux and macOS.
#[derive(Debug, Parser)]
#[command(name = "hvctl", version, long_about = None, after_help = EXIT_CODES_HELP)]
#[cfg_attr(
    feature = "sim",
    command(about = "Hyper-V replication and WS-Management from Linux and macOS")
)]
#[cfg_attr(not(feature = "sim"), command(about = LEAN_ABOUT))]
pub struct Cli {
    /// Connection, output and logging options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Hyper-V host to connect to (repeat or comma-separate for several); host, host:port or a URL
    #[arg(
        long = "host",
        short = 'H',
        env = "HVCTL_HOST",
        value_delimiter = ',',
        global = true
    )]
    pub hosts: Vec<String>,
    /// File listing hosts, one per line (`#` comments, host or host:port), optionally in
    /// Ansible-style `[group]` sections
    #[arg(long, env = "HVCTL_INVENTORY", global = true, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Only the hosts of this inventory group (repeat or comma-separate; `[name:children]`
    /// included) [default: every host of the file]
    #[arg(
        long = "group",
        short = 'g',
        env = "HVCTL_GROUP",
        value_delimiter = ',',
        global = true,
        value_name = "NAME"
    )]
    pub groups: Vec<String>,
    /// WinRM port [default: 5985, or 5986 with --https]
    #[arg(long, env = "HVCTL_PORT", global = true)]
    pub port: Option<u16>,
    /// Use HTTPS (TLS) instead of HTTP with message encryption
    #[arg(long, env = "HVCTL_HTTPS", global = true, value_parser = parse_bool)]
    pub https: bool,
    /// Authentication method [default: negotiate]
    #[arg(long, env = "HVCTL_AUTH", value_enum, global = true)]
    pub auth: Option<AuthKind>,
    /// User name: DOMAIN\user, user@REALM or user
    #[arg(long, short = 'u', env = "HVCTL_USER", global = true)]
    pub user: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// PEM file with the CA certificate(s) that sign the hosts' TLS certificates
    #[arg(long, env = "HVCTL_CA_CERT", global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for --auth certificate
    #[arg(long, env = "HVCTL_CLIENT_CERT", global = true, value_name = "PEM")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for --auth certificate
    #[arg(long, env = "HVCTL_CLIENT_KEY", global = true, value_name = "PEM")]
    pub client_key: Option<PathBuf>,
    /// Do not verify TLS certificates (DANGEROUS: anyone on the path can read your credentials)
    #[arg(long, env = "HVCTL_INSECURE", global = true, value_parser = parse_bool)]
    pub insecure: bool,
    /// Kerberos service principal: SERVICE or SERVICE/host [default: HTTP/<host>]
    #[arg(long, env = "HVCTL_SPN", global = true)]
    pub spn: Option<String>,
    /// TCP/TLS connect timeout, e.g. 10s, 500ms, 2m [default: 10s]
    #[arg(long, env = "HVCTL_CONNECT_TIMEOUT", global = true, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// WS-Management operation timeout [default: 60s]
    #[arg(long, env = "HVCTL_OPERATION_TIMEOUT", global = true, value_parser = parse_duration)]
    pub operation_timeout: Option<Duration>,
    /// w:MaxEnvelopeSize to ask for, in bytes: the largest reply the host may send; raise it
    /// (with the host's MaxEnvelopeSizekb) when a reply would exceed it [default: 512000]
    #[arg(long, env = "HVCTL_MAX_ENVELOPE_SIZE", global = true,
          value_parser = clap::value_parser!(u32)
              .range(i64::from(*ENVELOPE_SIZES.start())..=i64::from(*ENVELOPE_SIZES.end())))]
    pub max_envelope_size: Option<u32>,
    /// Items to ask for per enumeration response (MaxElements); lower it for a host whose
    /// MaxBatchItems is below Windows' default of 32000 [default: as many as fit the
    /// envelope size, at most 32000]
    #[arg(long, env = "HVCTL_PAGE_SIZE", global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
    /// How long to follow a job before giving up [default: 30m]
    #[arg(long, env = "HVCTL_JOB_TIMEOUT", global = true, value_parser = parse_duration)]
    pub job_timeout: Option<Duration>,
    /// Output format [default: human]
    #[arg(long, short = 'o', env = "HVCTL_OUTPUT", value_enum, global = true)]
    pub output: Option<OutputFormat>,
    /// More on stderr: -v one line per WS-Man exchange (operation, class, HTTP status,
    /// milliseconds), -vv the HTTP headers too (authorization tokens redacted), -vvv the
    /// decrypted SOAP bodies too (the password redacted)
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only results and errors: no progress, no warnings, no summary line
    #[arg(long, short = 'q', env = "HVCTL_QUIET", global = true, value_parser = parse_bool,
          conflicts_with = "verbose")]
    pub quiet: bool,
    /// Record every request and response (scrubbed) into this directory
    #[arg(long, env = "HVCTL_RECORD", global = true, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Profile from the config file ($XDG_CONFIG_HOME/hvctl/config.toml)
    #[arg(long, short = 'p', env = "HVCTL_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Config file [default: $XDG_CONFIG_HOME/hvctl/config.toml]
    #[arg(long, env = "HVCTL_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Operations run at the same time against one host [default: 4]
    #[arg(long, env = "HVCTL_PER_HOST", global = true)]
    pub per_host: Option<usize>,
    /// Never draw a progress bar (plain progress lines instead)
    #[arg(long, env = "HVCTL_NO_PROGRESS", global = true, value_parser = parse_bool)]
    pub no_progress: bool,
}

/// Authentication methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// Kerberos when a ticket or keytab works, NTLM otherwise
    Negotiate,
    /// NTLM (needs a password)
    Ntlm,
    /// Kerberos only (ticket cache, keytab, or a password)
    Kerberos,
    /// HTTP Basic (HTTPS only; local accounts)
    Basic,
    /// TLS client certificate (HTTPS only)
    Certificate,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Tables and lines for people
    Human,
    /// One JSON object per line (see OUTPUT.md)
    Json,
    /// Like human, with tables never truncated and their extra columns
    Wide,
}

/// What `hvctl __complete` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompleteWhat {
    /// The config file's profile names (for -p/--profile).
    Profiles,
    /// The inventory's group names (for -g/--group).
    Groups,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hyper-V Replica: reverse replication, status, statistics, suspend, resume, resync
    #[command(subcommand)]
    Replication(ReplicationCmd),
    /// Planned failover: prepare (primary), start, commit, cancel (replica)
    #[command(subcommand)]
    Failover(FailoverCmd),
    /// Virtual machines: list, start, stop
    #[command(subcommand)]
    Vm(VmCmd),
    /// Hyper-V jobs (Msvm_ConcreteJob): wait for one, show one
    #[command(subcommand)]
    Job(JobCmd),
    /// Generic WS-Management verbs for any WMI class in any namespace
    #[command(subcommand)]
    Wsman(WsmanCmd),
    /// Print a shell completion script
    Completions {
        /// Shell to generate completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man page hvctl(1) (roff) to stdout, or every page to a directory
    Man {
        /// Directory to write hvctl.1 and one page per subcommand into (hvctl-replication.1,
        /// hvctl-replication-reverse.1, ...)
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Words for shell completion, one per line (the completion scripts call it)
    #[command(name = "__complete", hide = true)]
    Complete {
        /// What to list
        #[arg(value_enum)]
        what: CompleteWhat,
    },
    /// Run the planned-failover workflow against two simulated hosts, in-process
    // Without the `sim` feature the variants stay (so that matches over commands need no
    // feature gates) but are hidden, and running them says how to get them (`NO_SIM`).
    #[cfg_attr(not(feature = "sim"), command(hide = true))]
    Demo,
    /// Simulated Hyper-V host (for trying hvctl and for tests)
    #[command(subcommand)]
    #[cfg_attr(not(feature = "sim"), command(hide = true))]
    Sim(SimCmd),
}

impl Command {
    /// The VM arguments of the commands that take VMs.
    pub fn vms_mut(&mut self) -> Option<&mut Vec<String>> {
        match self {
            Command::Replication(ReplicationCmd::Reverse(ReverseArgs { vms, .. }))
            | Command::Replication(
                ReplicationCmd::Status { vms }
                | ReplicationCmd::RecoveryPoints { vms }
                | ReplicationCmd::Measure { vms }
                | ReplicationCmd::Suspend { vms, .. }
                | ReplicationCmd::Resume { vms, .. }
                | ReplicationCmd::Resync { vms, .. },
            )
            | Command::Failover(
                FailoverCmd::Prepare { vms, .. }
                | FailoverCmd::Start { vms, .. }
                | FailoverCmd::Test { vms, .. }
                | FailoverCmd::TestStop { vms, .. }
                | FailoverCmd::Commit { vms, .. }
                | FailoverCmd::Cancel { vms, .. }
                | FailoverCmd::Planned(PlannedArgs { vms, .. }),
            )
            | Command::Vm(VmCmd::Start { vms, .. } | VmCmd::Stop(StopArgs { vms, .. })) => Some(vms),
            _ => None,
        }
    }
}

/// `hvctl replication ...`
#[derive(Debug, Subcommand)]
pub enum ReplicationCmd {
    /// Reverse replication of failed-over VMs (run against the replica host now serving them)
    Reverse(ReverseArgs),
    /// Replication mode, state, health and settings of VMs
    Status {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
    },
    /// Recovery points of replica VMs: name, time, application-consistent or standard
    /// (Get-VMSnapshot -SnapshotType Replica)
    #[command(long_about = RECOVERY_POINTS_ABOUT, after_help = RECOVERY_POINTS_EXAMPLES)]
    RecoveryPoints {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
    },
    /// Replication statistics and health of VMs, with the host's health issues
    /// (Measure-VMReplication)
    #[command(long_about = MEASURE_ABOUT, after_help = MEASURE_EXAMPLES)]
    Measure {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
    },
    /// Suspend the replication of VMs (Suspend-VMReplication; resume it with `resume`)
    #[command(long_about = SUSPEND_ABOUT, after_help = SUSPEND_EXAMPLES)]
    Suspend {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Resume the suspended replication of VMs (Resume-VMReplication)
    #[command(long_about = RESUME_ABOUT, after_help = RESUME_EXAMPLES)]
    Resume {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Resynchronize VMs that need it, on their primary host (Resume-VMReplication -Resynchronize)
    #[command(long_about = RESYNC_ABOUT, after_help = RESYNC_EXAMPLES)]
    Resync {
        /// VM names (ElementName) or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
}

const TEST_ABOUT: &str = "\
DR drill on the replica host: Msvm_ReplicationService.TestReplicaSystem makes a test VM (named
'<VM> - Test', off, with its own GUID) from the latest recovery point or the one named by
--recovery-point, and replication of the VM goes on. The test VM's name and GUID are printed;
start it with `hvctl vm start GUID`. One test VM per replica: end the drill with
`failover test-stop` before the next one.";

const TEST_STOP_ABOUT: &str = "\
End a DR drill on the replica host, as Stop-VMFailover does for a test: the test VM is found
through Msvm_ReplicaSystemDependency, turned off if it runs, and removed with
Msvm_VirtualSystemManagementService.DestroySystem. The replica VM and its replication are not
touched.";

const TEST_EXAMPLES: &str = "\
Examples:
  hvctl --host hv-replica failover test web01
  hvctl --host hv-replica failover test web01 --recovery-point 2026-12-06T22:25:10Z
  hvctl --host hv-replica failover test-stop web01";

const RECOVERY_POINTS_ABOUT: &str = "\
Recovery points of replica VMs, oldest first: each one's name, its time (to the second, with the
host's offset) and whether it is application-consistent (VSS) or standard (crash-consistent).

Read from the VM's Msvm_VirtualSystemSettingData snapshots (through Msvm_SnapshotOfVirtualSystem)
whose VirtualSystemType is Microsoft:Hyper-V:Snapshot:Replica:Standard or
Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent. Read-only; run it against the replica
host. `failover start --recovery-point` takes a name or a time from this list.";

const RECOVERY_POINTS_EXAMPLES: &str = "\
Examples:
  hvctl --host hv-replica replication recovery-points web01
  hvctl --host hv-replica failover start web01 --recovery-point 2026-12-06T22:25:10Z";

const MEASURE_ABOUT: &str = "\
Replication statistics and health of VMs, as Measure-VMReplication shows them: the state, the
health (Normal, Warning, Critical) with the host's health issues (Msvm_Error: message, id,
severity), the last replication time, the average and largest replication sizes, the average and
largest latency, and the successes, misses and errors counted in the host's monitoring window.

Read from Msvm_ReplicationService.GetReplicationStatisticsEx with the VM's primary replication
relationship. Read-only: nothing changes on the host, and a lost reply can simply be retried.
Works on the primary and on the replica host.";

const MEASURE_EXAMPLES: &str = "\
Examples:
  hvctl --host hv01 replication measure web01 db01
  hvctl --host hv01 -o json replication measure web01 |
    jq -r 'select(.type==\"result\" and .ok) | .data.health_issues[].message'";

const SUSPEND_ABOUT: &str = "\
Suspend the replication of VMs (Suspend-VMReplication): the host keeps tracking changes and sends
them when replication is resumed. Needs replication Replicating or Resynchronizing (a suspended
resynchronization then needs `replication resync`); any other state is refused before anything is
sent, naming the state. Calls Msvm_ComputerSystem.RequestReplicationStateChangeEx(primary
relationship, RequestedState = 7) and follows its job.";

const SUSPEND_EXAMPLES: &str = "\
Examples:
  hvctl --host hv01 replication suspend --dry-run web01
  hvctl --host hv01 replication suspend web01
  hvctl --host hv01 replication resume web01";

const RESUME_ABOUT: &str = "\
Resume the suspended replication of VMs (Resume-VMReplication): RequestReplicationStateChangeEx(
primary relationship, RequestedState = 3), or 15 after a failed disk update (UpdateError), as the
cmdlet does. Needs a Suspended VM (or UpdateError); a VM that needs a resynchronization
(ResynchronizeSuspended) is refused with the command that fixes it: `replication resync`.";

const RESUME_EXAMPLES: &str = "\
Examples:
  hvctl --host hv01 replication resume web01 db01
  hvctl --host hv01 -o json replication resume --dry-run web01";

const RESYNC_ABOUT: &str = "\
Resynchronize VMs that need it (Resume-VMReplication -Resynchronize): on the primary host,
Msvm_ReplicationService.Resynchronize(VM, StartTime = null) compares the primary's and the
replica's disks and sends the differences now. Needs the primary in state ResynchronizeSuspended
(WMI 11: a resynchronization is required, or was suspended); a Suspended VM is resumed with
`replication resume` instead, which sends its pending changes without comparing the disks. The VM
is Resynchronizing while the job runs, then Replicating.";

const RESYNC_EXAMPLES: &str = "\
Examples:
  hvctl --host hv01 replication measure web01     # Critical: resynchronization required
  hvctl --host hv01 replication resync --dry-run web01
  hvctl --host hv01 replication resync web01";

/// `hvctl replication reverse` arguments.
#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// VM names (ElementName) or GUIDs
    #[arg(required = true)]
    pub vms: Vec<String>,
    #[command(flatten)]
    pub reverse: ReverseFlags,
    /// Show what would be done, from the states read now; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The options of the reverse (`replication reverse`, `failover planned`).
#[derive(Debug, Clone, Args)]
pub struct ReverseFlags {
    /// New replica server [default: the VM's old primary server]
    #[arg(long, value_name = "HOST")]
    pub replica_server: Option<String>,
    /// Replica server port [default: keep the current one]
    #[arg(long = "replica-port", value_name = "N")]
    pub replica_port: Option<u16>,
    /// Replication authentication [default: keep the current one]
    #[arg(long = "replication-auth", value_enum)]
    pub replication_auth: Option<ReplicationAuth>,
    /// Certificate thumbprint (required with --replication-auth certificate)
    #[arg(long)]
    pub thumbprint: Option<String>,
}

impl ReverseFlags {
    /// The domain's reverse options.
    pub fn options(&self) -> hyperv::ReverseOptions {
        hyperv::ReverseOptions {
            replica_server: self.replica_server.clone(),
            port: self.replica_port,
            auth: self.replication_auth.map(|x| match x {
                ReplicationAuth::Kerberos => hyperv::ReplicationAuth::Kerberos,
                ReplicationAuth::Certificate => hyperv::ReplicationAuth::Certificate,
            }),
            thumbprint: self.thumbprint.clone(),
        }
    }
}

/// `--dry-run` of the state-changing commands.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct DryRun {
    /// Show what would be done, from the states read now; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `--yes` of the commands that cannot be undone.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Yes {
    /// Do not ask for confirmation (needed when standard input is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Hyper-V Replica authentication types (Msvm_ReplicationSettingData.AuthenticationType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplicationAuth {
    /// Kerberos (HTTP)
    Kerberos,
    /// Certificate (HTTPS)
    Certificate,
}

/// `hvctl failover ...`
#[derive(Debug, Subcommand)]
pub enum FailoverCmd {
    /// On the primary: replicate pending changes and prepare for failover (VM must be off)
    Prepare {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// On the replica: fail over to the latest point or a named recovery point
    Start {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        /// Recovery point: its name or time as `replication recovery-points` lists them, or its
        /// InstanceID [default: latest]
        #[arg(long, value_name = "NAME")]
        recovery_point: Option<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// On the replica: DR drill: a test VM from the latest or a named recovery point
    /// (Start-VMFailover -AsTest); replication goes on
    #[command(long_about = TEST_ABOUT, after_help = TEST_EXAMPLES)]
    Test {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        /// Recovery point: its name or time as `replication recovery-points` lists them, or its
        /// InstanceID [default: latest]
        #[arg(long, value_name = "NAME")]
        recovery_point: Option<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// On the replica: end a DR drill: turn the test VM off and remove it (Stop-VMFailover)
    #[command(long_about = TEST_STOP_ABOUT, after_help = TEST_EXAMPLES)]
    TestStop {
        /// VM names or GUIDs (the replica VMs, not their test VMs)
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// On the replica: commit the failover (deletes the other recovery points; cannot be
    /// undone, so it asks first)
    Commit {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
        #[command(flatten)]
        yes: Yes,
    },
    /// Cancel a failover (replica) or a prepare (primary)
    Cancel {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// The whole planned failover from --primary to --replica as one command; run it again
    /// after any interruption and it goes on from where each VM stands
    #[command(long_about = PLANNED_ABOUT, after_help = PLANNED_EXAMPLE)]
    Planned(PlannedArgs),
}

/// The long help of `failover planned` (also its man page).
const PLANNED_ABOUT: &str = "\
The whole planned failover of VMs from their primary host to their replica host, as one command: \
for each VM, turn it off on the primary (only with --shutdown or --turn-off), prepare the \
failover there (Start-VMFailover -Prepare), fail over on the replica (Start-VMFailover), reverse \
the replication there (Set-VMReplication -Reverse, with the options of `replication reverse`), \
start the VM on the replica (Start-VM), and print its status on both hosts.

Before anything changes, both hosts are read: the VM must be there with the same GUID, Primary \
on --primary and Replica on --replica, in states that allow the switch; a running VM needs \
--shutdown or --turn-off.

Resumable: no state is kept locally. Each step is decided from the states both hosts show, so \
after an interruption (the process killed, a reply lost, a step done by hand) the same command \
goes on from where each VM stands: a job an earlier run left running is followed to its end, \
and each step already done is skipped, saying what shows it. A VM already switched over \
(Primary and running on --replica) is reported done with every step skipped.

VMs run concurrently, each with its own result; --per-host limits them per host. --primary \
and --replica take the place of --host.";

/// The example of `failover planned`.
const PLANNED_EXAMPLE: &str = "\
Example:
  hvctl failover planned web01 db01 --primary hv01 --replica hv02 --shutdown
  # interrupted? the same command again goes on from where each VM stands
  hvctl failover planned web01 db01 --primary hv01 --replica hv02 --shutdown --dry-run";

/// `hvctl failover planned` arguments.
#[derive(Debug, Args)]
pub struct PlannedArgs {
    /// VM names or GUIDs
    #[arg(required = true)]
    pub vms: Vec<String>,
    /// The host the VMs run on now (their replication primary)
    #[arg(long, value_name = "HOST[:PORT]")]
    pub primary: String,
    /// The host they are to run on (their replica)
    #[arg(long, value_name = "HOST[:PORT]")]
    pub replica: String,
    /// Turn a running VM off on the primary through its guest (as Stop-VM)
    #[arg(long, conflicts_with = "turn_off")]
    pub shutdown: bool,
    /// Cut the power of a running VM on the primary instead (unsaved data is lost)
    #[arg(long)]
    pub turn_off: bool,
    #[command(flatten)]
    pub reverse: ReverseFlags,
    #[command(flatten)]
    pub dry: DryRun,
}

/// `hvctl vm ...`
#[derive(Debug, Subcommand)]
pub enum VmCmd {
    /// List the VMs of the hosts
    List,
    /// Start VMs
    Start {
        /// VM names or GUIDs
        #[arg(required = true)]
        vms: Vec<String>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Shut VMs down through their guest (as Stop-VM), e.g. before `failover prepare`;
    /// --turn-off cuts the power, --save saves their state
    Stop(StopArgs),
}

/// `hvctl vm stop` arguments.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// VM names or GUIDs
    #[arg(required = true)]
    pub vms: Vec<String>,
    /// Cut the power instead (no guest shutdown, unsaved data is lost; asks first)
    #[arg(long, conflicts_with = "save")]
    pub turn_off: bool,
    /// Save the VM's state instead (resume it with `vm start`)
    #[arg(long)]
    pub save: bool,
    /// Shut the guest down even if it has unsaved work or is locked (Stop-VM -Force)
    #[arg(long, conflicts_with_all = ["turn_off", "save"])]
    pub force: bool,
    #[command(flatten)]
    pub dry: DryRun,
    #[command(flatten)]
    pub yes: Yes,
}

impl StopArgs {
    /// The domain's stop mode.
    pub fn mode(&self) -> hyperv::StopMode {
        if self.turn_off {
            hyperv::StopMode::TurnOff
        } else if self.save {
            hyperv::StopMode::Save
        } else {
            hyperv::StopMode::Shutdown { force: self.force }
        }
    }
}

/// `hvctl job ...`
#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Follow a job until it ends (e.g. after a lost reply)
    Wait {
        /// Job InstanceID (printed by the command that started it)
        job_id: String,
    },
    /// Show a job once
    Show {
        /// Job InstanceID
        job_id: String,
    },
}

/// `hvctl wsman ...`
#[derive(Debug, Subcommand)]
pub enum WsmanCmd {
    /// WS-Management Identify (protocol version, vendor, product version)
    Identify,
    /// Get one instance by its key selectors
    Get {
        /// WMI class (Msvm_ComputerSystem) or a full resource URI
        class: String,
        /// Key selector NAME=VALUE (repeat)
        #[arg(long = "selector", short = 's', value_name = "K=V", value_parser = parse_kv)]
        selectors: Vec<(String, String)>,
        /// WMI namespace
        #[arg(long, short = 'n', default_value = "root/virtualization/v2")]
        namespace: String,
    },
    /// Enumerate instances of a class (optionally filtered)
    Enumerate {
        /// WMI class, a full resource URI, or `*` with --wql/--associators
        class: String,
        /// WQL query (SELECT * FROM Class WHERE ...)
        #[arg(long, conflicts_with = "associators")]
        wql: Option<String>,
        /// Instances associated with this object: 'Class?Key=Value&Key=Value'
        #[arg(long, value_name = "REF")]
        associators: Option<String>,
        /// Association class for --associators
        #[arg(long, requires = "associators")]
        assoc_class: Option<String>,
        /// Result class for --associators
        #[arg(long, requires = "associators")]
        result_class: Option<String>,
        /// Return endpoint references (EnumerateObjectAndEPR)
        #[arg(long)]
        epr: bool,
        /// WMI namespace
        #[arg(long, short = 'n', default_value = "root/virtualization/v2")]
        namespace: String,
    },
    /// Invoke a method on an instance (selectors) or a static/singleton class
    Invoke {
        /// WMI class or full resource URI
        class: String,
        /// Method name
        method: String,
        /// Key selector NAME=VALUE (repeat)
        #[arg(long = "selector", short = 's', value_name = "K=V", value_parser = parse_kv)]
        selectors: Vec<(String, String)>,
        /// Scalar parameter NAME=VALUE (repeat for arrays; NAME= for null)
        #[arg(long = "param", value_name = "K=V", value_parser = parse_kv)]
        params: Vec<(String, String)>,
        /// Reference parameter NAME='Class?Key=Value&Key=Value'
        #[arg(long = "ref", value_name = "K=REF", value_parser = parse_kv)]
        refs: Vec<(String, String)>,
        /// Embedded-instance parameter NAME=@file.xml (CIM-XML <INSTANCE>)
        #[arg(long = "instance", value_name = "K=@FILE", value_parser = parse_kv)]
        instances: Vec<(String, String)>,
        /// WMI namespace
        #[arg(long, short = 'n', default_value = "root/virtualization/v2")]
        namespace: String,
    },
}

/// `hvctl sim ...`
#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Run a simulated Hyper-V host until Ctrl-C (uses the global --https and --port)
    Serve {
        /// Also start the replica partner host and print both endpoints
        #[arg(long)]
        pair: bool,
        /// Delay the reply of every HTTP exchange by this much (e.g. 30ms), the 401 legs of a
        /// handshake included: an emulated VPN or WAN round trip [default: none]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        latency: Option<Duration>,
    },
}

/// Parses `NAME=VALUE` (the value may be empty and may contain `=`).
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

/// Parses a boolean flag's environment value: `1`/`0`, `yes`/`no`, `true`/`false`, `on`/`off`
/// (any case); empty is false, as if the variable were unset.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" | "" => Ok(false),
        _ => Err(format!("expected {}, got '{s}'", crate::startup::BOOL_VALUES)),
    }
}

/// Parses a duration: `30`, `30s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration `{s}` (use e.g. 30s, 500ms, 2m)"))?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "invalid duration unit `{other}` in `{s}` (use ms, s, m, h)"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("duration `{s}` must be greater than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").unwrap_err().contains("greater than zero"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration("abc").unwrap_err().contains("invalid duration"));
    }

    #[test]
    fn booleans_take_the_usual_spellings() {
        for t in ["1", "yes", "TRUE", "On", "true"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "no", "False", "OFF", ""] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").unwrap_err().contains("got 'maybe'"));
    }

    #[test]
    fn key_values_keep_equals_in_the_value() {
        assert_eq!(parse_kv("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_kv("Name="), Ok(("Name".into(), String::new())));
        assert!(parse_kv("=x").is_err());
        assert!(parse_kv("novalue").is_err());
    }

    #[test]
    fn reverse_parses_all_options() {
        let cli = Cli::try_parse_from([
            "hvctl",
            "-p",
            "replica",
            "replication",
            "reverse",
            "web01",
            "db01",
            "--replica-server",
            "hv01",
            "--replica-port",
            "443",
            "--replication-auth",
            "certificate",
            "--thumbprint",
            "AB12",
        ])
        .unwrap();
        assert_eq!(cli.global.profile.as_deref(), Some("replica"));
        let Command::Replication(ReplicationCmd::Reverse(r)) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(r.vms, ["web01", "db01"]);
        assert_eq!(r.reverse.replica_server.as_deref(), Some("hv01"));
        assert_eq!(r.reverse.replica_port, Some(443));
        assert_eq!(r.reverse.replication_auth, Some(ReplicationAuth::Certificate));
        assert_eq!(r.reverse.thumbprint.as_deref(), Some("AB12"));
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "hvctl", "vm", "list", "--host", "a,b", "--host", "c", "-o", "json", "-vv",
        ])
        .unwrap();
        assert_eq!(cli.global.hosts, ["a", "b", "c"]);
        assert_eq!(cli.global.output, Some(OutputFormat::Json));
        assert_eq!(cli.global.verbose, 2);
    }

    #[test]
    fn missing_vm_is_a_usage_error() {
        let err = Cli::try_parse_from(["hvctl", "replication", "status"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn there_is_no_password_flag() {
        let err = Cli::try_parse_from(["hvctl", "--password", "x", "vm", "list"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
