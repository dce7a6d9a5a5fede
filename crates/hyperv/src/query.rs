//! Reads: finding VMs, their replication settings and relationship, recovery points, and the
//! replication service's EPR.

use wsman_soap::{
    AssociationFilter, AssociationKind, Enumerate, EnumerationMode, Epr, Filter, Instance, KnownFault,
    SelectorSet,
};

use crate::msvm::{
    all_classes_uri, class_uri, is_guid, primary_relationship_id, vm_epr, vm_selectors, RecoveryPoint,
    ReplicationRelationship, ReplicationSettings, Vm, COMPUTER_SYSTEM, REPLICATION_RELATIONSHIP,
    REPLICATION_SERVICE, REPLICATION_SETTING_DATA, SHUTDOWN_COMPONENT, SHUTDOWN_COMPONENT_KEYS,
    VIRTUAL_SYSTEM_SETTING_DATA,
};
use crate::transport::{TransportError, Wsman};
use crate::Error;

/// How the user named a VM.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VmRef {
    /// By `ElementName` (what `Get-VM` shows as Name).
    Name(String),
    /// By GUID (`Msvm_ComputerSystem.Name`).
    Guid(String),
}

impl VmRef {
    /// A GUID-shaped argument is a GUID, anything else a name.
    pub fn parse(s: &str) -> VmRef {
        let t = s.trim().trim_start_matches('{').trim_end_matches('}');
        if is_guid(t) {
            VmRef::Guid(t.to_ascii_uppercase())
        } else {
            VmRef::Name(s.to_owned())
        }
    }

    /// The text as given (name or GUID), for messages.
    pub fn as_str(&self) -> &str {
        match self {
            VmRef::Name(s) | VmRef::Guid(s) => s,
        }
    }
}

impl std::fmt::Display for VmRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WQL string literal: `'...'` with `\` and `'` escaped as `\\` and `\'` (WQL string
/// literals use C-style backslash escapes: "WHERE Clause (WMI)",
/// <https://learn.microsoft.com/windows/win32/wmisdk/where-clause>).
pub fn wql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The WQL query that finds VMs by `ElementName`.
pub fn vm_by_name_query(name: &str) -> String {
    format!(
        "SELECT * FROM {COMPUTER_SYSTEM} WHERE ElementName = {}",
        wql_string(name)
    )
}

fn is_fault(e: &TransportError, kinds: &[KnownFault]) -> bool {
    e.fault()
        .and_then(|f| f.known())
        .is_some_and(|k| kinds.contains(&k))
}

/// Faults meaning "no such instance" for a Get by selectors.
const NOT_FOUND_FAULTS: &[KnownFault] = &[
    KnownFault::ResourceNotFound,
    KnownFault::WmiNotFound,
    KnownFault::InvalidSelectors,
];

/// Every VM on the host (the host's own `Msvm_ComputerSystem` is left out), in the host's order.
pub async fn list_vms(w: &impl Wsman) -> Result<Vec<Vm>, Error> {
    let items = w
        .enumerate(
            &class_uri(COMPUTER_SYSTEM),
            &Enumerate {
                optimize: true,
                ..Enumerate::default()
            },
        )
        .await
        .map_err(|e| Error::from_transport("Enumerate Msvm_ComputerSystem", w.host(), e))?;
    items
        .iter()
        .filter_map(|i| i.instance.as_ref())
        .filter(|i| Vm::is_vm_instance(i))
        .map(Vm::from_instance)
        .collect()
}

/// Finds a VM by name or GUID. A GUID that matches no VM is retried as a name (a VM may be
/// named like a GUID).
pub async fn find_vm(w: &impl Wsman, vm: &VmRef) -> Result<Vm, Error> {
    match vm {
        VmRef::Name(name) => find_vm_by_name(w, name).await,
        VmRef::Guid(guid) => match find_vm_by_guid(w, guid).await {
            Err(Error::NotFound { what }) => match find_vm_by_name(w, guid).await {
                Err(Error::NotFound { .. }) => Err(Error::NotFound { what }),
                other => other,
            },
            other => other,
        },
    }
}

/// Finds a VM by GUID: Get `Msvm_ComputerSystem` with `CreationClassName` and `Name`.
pub async fn find_vm_by_guid(w: &impl Wsman, guid: &str) -> Result<Vm, Error> {
    match w.get(&class_uri(COMPUTER_SYSTEM), &vm_selectors(guid)).await {
        Ok(i) => Vm::from_instance(&i),
        Err(e) if is_fault(&e, NOT_FOUND_FAULTS) => Err(Error::NotFound {
            what: format!("no virtual machine with GUID {guid} on {}", w.host()),
        }),
        Err(e) => Err(Error::from_transport("Get Msvm_ComputerSystem", w.host(), e)),
    }
}

/// Finds a VM by `ElementName`: a WQL Enumerate on `root/virtualization/v2/*`; when the host
/// refuses the filter (WS-Enumeration's `CannotProcessFilter`, [DSP0226 §8.2]; seen from
/// Hyper-V hosts by r4sd/go-wsman) an unfiltered
/// enumeration filtered here. Names compare case-insensitively, as WQL `=` and `Get-VM` do.
/// Two or more matches are [`Error::Ambiguous`].
pub async fn find_vm_by_name(w: &impl Wsman, name: &str) -> Result<Vm, Error> {
    let found = query_vms(w, vm_by_name_query(name)).await?;
    // The server filtered already on the WQL path; matching again is harmless and keeps both
    // paths identical.
    pick(&found, &VmRef::Name(name.to_owned()), w.host())
}

/// The VMs a WQL query on `Msvm_ComputerSystem` returns (the host's own instance left out);
/// when the host refuses the filter (`CannotProcessFilter`, which r4sd/go-wsman reports from
/// real Hyper-V hosts), every VM, for the caller to match.
async fn query_vms(w: &impl Wsman, wql: String) -> Result<Vec<Vm>, Error> {
    let request = Enumerate {
        filter: Some(Filter::Wql(wql)),
        optimize: true,
        ..Enumerate::default()
    };
    match w.enumerate(&all_classes_uri(), &request).await {
        Ok(items) => items
            .iter()
            .filter_map(|i| i.instance.as_ref())
            .filter(|i| Vm::is_vm_instance(i))
            .map(Vm::from_instance)
            .collect(),
        Err(e) if is_fault(&e, FILTER_REFUSED) => list_vms(w).await,
        Err(e) => Err(Error::from_transport(
            "Enumerate Msvm_ComputerSystem (WQL)",
            w.host(),
            e,
        )),
    }
}

/// A VM a workflow step acts on: as the user named it (looked up on the host first), or as
/// already found there by [`find_vms`] (used as it is, with no further query).
#[derive(Debug, Clone, Copy)]
pub enum VmTarget<'a> {
    /// Look it up by name or GUID.
    Named(&'a VmRef),
    /// Found on this host already.
    Found(&'a Vm),
}

impl<'a> From<&'a VmRef> for VmTarget<'a> {
    fn from(r: &'a VmRef) -> Self {
        VmTarget::Named(r)
    }
}

impl<'a> From<&'a Vm> for VmTarget<'a> {
    fn from(v: &'a Vm) -> Self {
        VmTarget::Found(v)
    }
}

/// The VM of a [`VmTarget`]: looked up, or the one given.
pub async fn locate(w: &impl Wsman, target: VmTarget<'_>) -> Result<Vm, Error> {
    match target {
        VmTarget::Named(r) => find_vm(w, r).await,
        VmTarget::Found(v) => Ok(v.clone()),
    }
}

/// The most names one WQL query of [`find_vms`] carries (`... WHERE ElementName = 'a' OR ...`);
/// more are matched against one listing of every VM. Keeps the query text short (a few KB)
/// whatever the number of names.
pub const MAX_NAMES_PER_QUERY: usize = 32;

/// The query that finds every VM named in `refs` at once: an OR of `ElementName = '...'` for each
/// name and of `Name = '...' OR ElementName = '...'` for each GUID (a VM may be named like a GUID).
pub fn vms_query(refs: &[VmRef]) -> String {
    let mut terms = Vec::with_capacity(refs.len() * 2);
    for r in refs {
        if let VmRef::Guid(g) = r {
            terms.push(format!("Name = {}", wql_string(g)));
        }
        terms.push(format!("ElementName = {}", wql_string(r.as_str())));
    }
    format!("SELECT * FROM {COMPUTER_SYSTEM} WHERE {}", terms.join(" OR "))
}

/// Finds every VM in `refs` on one host with one query, whatever their number (paging aside): a
/// single ref is [`find_vm`]; up to [`MAX_NAMES_PER_QUERY`] refs are one WQL query with an OR of
/// them; more, or a host that refuses the filter (`CannotProcessFilter`), one listing of every VM
/// matched here. Each ref gets the result [`find_vm`] would give it: the VM, or
/// [`Error::NotFound`] / [`Error::Ambiguous`]. The outer error is the query's failure.
pub async fn find_vms(w: &impl Wsman, refs: &[VmRef]) -> Result<Vec<Result<Vm, Error>>, Error> {
    if let [one] = refs {
        return match find_vm(w, one).await {
            Err(e @ (Error::NotFound { .. } | Error::Ambiguous { .. })) => Ok(vec![Err(e)]),
            Err(e) => Err(e),
            Ok(v) => Ok(vec![Ok(v)]),
        };
    }
    let candidates = if refs.is_empty() {
        Vec::new()
    } else if refs.len() > MAX_NAMES_PER_QUERY {
        list_vms(w).await?
    } else {
        query_vms(w, vms_query(refs)).await?
    };
    Ok(refs.iter().map(|r| pick(&candidates, r, w.host())).collect())
}

/// The VM `r` names among `vms`, with [`find_vm`]'s rules: a GUID matches `Name`, else (no VM
/// has it) `ElementName`; names compare case-insensitively; two name matches are ambiguous.
fn pick(vms: &[Vm], r: &VmRef, host: &str) -> Result<Vm, Error> {
    if let VmRef::Guid(g) = r {
        if let Some(v) = vms.iter().find(|v| v.guid.eq_ignore_ascii_case(g)) {
            return Ok(v.clone());
        }
    }
    let name = r.as_str();
    let mut matches: Vec<&Vm> = vms.iter().filter(|v| v.name.eq_ignore_ascii_case(name)).collect();
    match (matches.len(), r) {
        (1, _) => Ok(matches.remove(0).clone()),
        (0, VmRef::Guid(g)) => Err(Error::NotFound {
            what: format!("no virtual machine with GUID {g} on {host}"),
        }),
        (0, _) => Err(Error::NotFound {
            what: format!("no virtual machine named '{name}' on {host}"),
        }),
        _ => Err(Error::Ambiguous {
            name: name.to_owned(),
            host: host.to_owned(),
            guids: matches.into_iter().map(|v| v.guid.clone()).collect(),
        }),
    }
}

/// Faults meaning the host does not take this WQL filter.
const FILTER_REFUSED: &[KnownFault] = &[
    KnownFault::CannotProcessFilter,
    KnownFault::FilterDialectUnavailable,
];

/// Reads a VM's primary-relationship `Msvm_ReplicationSettingData`: Get by `InstanceID`
/// `Microsoft:<GUID>\HVR\0`, falling back to the `Msvm_ElementSettingData` association (which
/// also finds the Windows 8 form `...\HVR`) (the `InstanceID` forms on
/// <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationsettingdata>).
pub async fn replication_settings(w: &impl Wsman, vm: &Vm) -> Result<ReplicationSettings, Error> {
    let sel = SelectorSet::new().with("InstanceID", primary_relationship_id(&vm.guid));
    match w.get(&class_uri(REPLICATION_SETTING_DATA), &sel).await {
        Ok(i) => return ReplicationSettings::from_instance(&i),
        Err(e) if is_fault(&e, NOT_FOUND_FAULTS) => {}
        Err(e) => {
            return Err(Error::from_transport(
                "Get Msvm_ReplicationSettingData",
                w.host(),
                e,
            ))
        }
    }
    let found = associated(w, vm, "Msvm_ElementSettingData", REPLICATION_SETTING_DATA).await?;
    let mut all = found
        .iter()
        .map(ReplicationSettings::from_instance)
        .collect::<Result<Vec<_>, _>>()?;
    all.retain(ReplicationSettings::is_primary_relationship);
    if all.is_empty() {
        return Err(Error::NotFound {
            what: format!(
                "{} on {} has no replication settings (replication is not enabled for it)",
                vm.name,
                w.host()
            ),
        });
    }
    Ok(all.remove(0))
}

/// Reads a VM's primary `Msvm_ReplicationRelationship` (Get by `InstanceID`, falling back to the
/// `Msvm_SystemReplicationRelationship` association); `None` when it has none.
pub async fn replication_relationship(
    w: &impl Wsman,
    vm: &Vm,
) -> Result<Option<ReplicationRelationship>, Error> {
    let sel = SelectorSet::new().with("InstanceID", primary_relationship_id(&vm.guid));
    match w.get(&class_uri(REPLICATION_RELATIONSHIP), &sel).await {
        Ok(i) => return ReplicationRelationship::from_instance(&i).map(Some),
        Err(e) if is_fault(&e, NOT_FOUND_FAULTS) => {}
        Err(e) => {
            return Err(Error::from_transport(
                "Get Msvm_ReplicationRelationship",
                w.host(),
                e,
            ))
        }
    }
    let found = associated(
        w,
        vm,
        "Msvm_SystemReplicationRelationship",
        REPLICATION_RELATIONSHIP,
    )
    .await?;
    let rels = found
        .iter()
        .map(ReplicationRelationship::from_instance)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rels.into_iter().find(|r| r.instance_id.ends_with('0')))
}

/// The recovery points (replica snapshots) of a VM, oldest first, through the
/// `Msvm_SnapshotOfVirtualSystem` association.
pub async fn recovery_points(w: &impl Wsman, vm: &Vm) -> Result<Vec<RecoveryPoint>, Error> {
    let found = associated(w, vm, "Msvm_SnapshotOfVirtualSystem", VIRTUAL_SYSTEM_SETTING_DATA).await?;
    let mut points: Vec<RecoveryPoint> = found.iter().filter_map(RecoveryPoint::from_instance).collect();
    points.sort_by_key(|p| p.creation_time.map(|t| t.to_iso8601()));
    Ok(points)
}

/// The EPR of a VM's `Msvm_ShutdownComponent` (its guest shutdown integration service), or
/// `None` when the VM has none (not running, or the service is not offered): WQL
/// `SELECT * FROM Msvm_ShutdownComponent WHERE SystemName = '<GUID>'`, or the
/// `Msvm_SystemDevice` association when the host refuses the filter; the selectors are the
/// class's four keys as the instance gives them.
pub async fn shutdown_component(w: &impl Wsman, vm: &Vm) -> Result<Option<Epr>, Error> {
    let request = Enumerate {
        filter: Some(Filter::Wql(format!(
            "SELECT * FROM {SHUTDOWN_COMPONENT} WHERE SystemName = {}",
            wql_string(&vm.guid)
        ))),
        optimize: true,
        ..Enumerate::default()
    };
    let found = match w.enumerate(&all_classes_uri(), &request).await {
        Ok(items) => items.into_iter().filter_map(|i| i.instance).collect(),
        Err(e) if is_fault(&e, FILTER_REFUSED) => {
            associated(w, vm, "Msvm_SystemDevice", SHUTDOWN_COMPONENT).await?
        }
        Err(e) => {
            return Err(Error::from_transport(
                "Enumerate Msvm_ShutdownComponent (WQL)",
                w.host(),
                e,
            ))
        }
    };
    let Some(i) = found.iter().find(|i| {
        i.get_str("SystemName")
            .is_some_and(|n| n.eq_ignore_ascii_case(&vm.guid))
    }) else {
        return Ok(None);
    };
    let mut sel = SelectorSet::new();
    for key in SHUTDOWN_COMPONENT_KEYS {
        let Some(v) = i.get_str(key) else {
            return Err(Error::Unexpected(format!(
                "the Msvm_ShutdownComponent of {} has no {key}",
                vm.name
            )));
        };
        sel.push(key, v);
    }
    Ok(Some(Epr::new(class_uri(SHUTDOWN_COMPONENT), sel)))
}

/// The instances associated to a VM through `association` of class `result`; an empty list
/// when the host answers "not found" or refuses the filter.
pub(crate) async fn associated(
    w: &impl Wsman,
    vm: &Vm,
    association: &str,
    result: &str,
) -> Result<Vec<Instance>, Error> {
    let request = Enumerate {
        filter: Some(Filter::Association(AssociationFilter {
            object: vm_epr(&vm.guid),
            kind: AssociationKind::AssociatedInstances,
            association_class: Some(association.to_owned()),
            result_class: Some(result.to_owned()),
            role: None,
            result_role: None,
        })),
        optimize: true,
        ..Enumerate::default()
    };
    match w.enumerate(&all_classes_uri(), &request).await {
        Ok(items) => Ok(items.into_iter().filter_map(|i| i.instance).collect()),
        Err(e)
            if is_fault(
                &e,
                &[
                    KnownFault::ResourceNotFound,
                    KnownFault::WmiNotFound,
                    KnownFault::CannotProcessFilter,
                ],
            ) =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(Error::from_transport(
            format!("Enumerate {association} of {}", vm.name),
            w.host(),
            e,
        )),
    }
}

/// The EPR of the host's `Msvm_ReplicationService`: enumerated with `EnumerateObjectAndEPR` so
/// the selectors are the ones Windows hands out; built from the instance's documented keys when
/// the item has no EPR (the keys on <https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-replicationservice>).
pub async fn replication_service(w: &impl Wsman) -> Result<Epr, Error> {
    let uri = class_uri(REPLICATION_SERVICE);
    let request = Enumerate {
        mode: EnumerationMode::ObjectAndEpr,
        optimize: true,
        ..Enumerate::default()
    };
    let items = w
        .enumerate(&uri, &request)
        .await
        .map_err(|e| Error::from_transport("Enumerate Msvm_ReplicationService", w.host(), e))?;
    let Some(item) = items.into_iter().next() else {
        return Err(Error::NotFound {
            what: format!(
                "{} has no Msvm_ReplicationService (is the Hyper-V role installed?)",
                w.host()
            ),
        });
    };
    if let Some(epr) = item.epr.filter(|e| !e.selectors.is_empty()) {
        return Ok(epr);
    }
    let mut sel = SelectorSet::new().with("CreationClassName", REPLICATION_SERVICE);
    if let Some(i) = &item.instance {
        for key in ["Name", "SystemCreationClassName", "SystemName"] {
            if let Some(v) = i.get_str(key) {
                sel.push(key, v);
            }
        }
    }
    Ok(Epr::new(uri, sel))
}
