//! Queries: the instances and association links of a host, and the WS-Man reads over them
//! (Get, unfiltered Enumerate, WQL `SELECT` and `ASSOCIATORS OF`, DSP0227 association filters)
//! with Windows' selector rules.

use std::time::SystemTime;

use wsman_soap::{Epr, Instance, Scalar, SelectorSet, Value};

use super::jobs::visible;
use super::{service_epr, uri, HostId, Object, World, AJE, ESD, HS, RSDEP, SD, SDS, SOVS, SRR, SVC};
use crate::fault::SimFault;
use crate::wql::{self, Query};

/// An association instance with its two ends: (object, (role A, EPR A), (role B, EPR B)).
pub(super) type Link = (Object, (&'static str, Epr), (&'static str, Epr));

/// The association instance of `class` between `a` (in role `ra`) and `b` (in role `rb`).
pub(super) fn link(class: &str, ra: &'static str, a: Epr, rb: &'static str, b: Epr) -> Link {
    let i = Instance::new(class)
        .with(ra, Value::Reference(a.clone()))
        .with(rb, Value::Reference(b.clone()));
    let epr = Epr::new(uri(class), SelectorSet::new());
    (Object { instance: i, epr }, (ra, a), (rb, b))
}

impl World {
    /// Every instance of `class` on a host (no associations).
    fn instances(&self, host: HostId, class: &str, now: SystemTime) -> Option<Vec<Object>> {
        let h = self.hosts.get(host.0)?;
        let mut out = Vec::new();
        match class.to_ascii_lowercase().as_str() {
            "msvm_computersystem" => {
                out.push(self.host_cs(h));
                out.extend(h.vms.iter().map(|v| self.vm_cs(v, now)));
            }
            "msvm_replicationsettingdata" => {
                out.extend(
                    h.vms
                        .iter()
                        .filter_map(|v| v.replication.as_ref().map(|r| self.rsd(v, r))),
                );
            }
            "msvm_replicationrelationship" => {
                out.extend(
                    h.vms
                        .iter()
                        .filter_map(|v| v.replication.as_ref().map(|r| self.relationship(v, r))),
                );
            }
            "msvm_replicationservice" => out.push(self.service(h)),
            "msvm_virtualsystemmanagementservice" => out.push(self.management_service(h)),
            "msvm_virtualsystemsettingdata" => out.extend(self.settings_data(host, h)),
            "msvm_shutdowncomponent" => {
                out.extend(h.vms.iter().filter_map(|v| self.shutdown_component(v)));
            }
            "msvm_concretejob" => {
                out.extend(
                    self.jobs
                        .iter()
                        .filter(|j| j.host == host && visible(j, now))
                        .map(|j| self.job_object(j, now)),
                );
            }
            _ => return None,
        }
        Some(out)
    }

    /// Association instances on a host: (association object, end role A, EPR A, end role B, EPR B).
    fn links(&self, host: HostId, now: SystemTime) -> Vec<Link> {
        let Some(h) = self.hosts.get(host.0) else {
            return Vec::new();
        };
        let mut out = self.drill_links(host, h);
        let mut add = |class: &str, ra: &'static str, a: Epr, rb: &'static str, bb: Epr| {
            out.push(link(class, ra, a, rb, bb));
        };
        let host_cs = self.host_cs(h).epr;
        add(HS, "Antecedent", host_cs, "Dependent", service_epr(&h.name));
        for v in &h.vms {
            if let Some(sc) = self.shutdown_component(v) {
                add(
                    SD,
                    "GroupComponent",
                    self.vm_cs(v, now).epr,
                    "PartComponent",
                    sc.epr,
                );
            }
            let Some(r) = v.replication.as_ref() else { continue };
            let cs = self.vm_cs(v, now).epr;
            let rsd = self.rsd(v, r).epr;
            let rel = self.relationship(v, r).epr;
            add(ESD, "ManagedElement", cs.clone(), "SettingData", rsd.clone());
            add(SRR, "Antecedent", cs, "Dependent", rel.clone());
            add(SDS, "ManagedElement", rel, "SettingData", rsd);
        }
        for j in self.jobs.iter().filter(|j| j.host == host && visible(j, now)) {
            let Some(vm) = j
                .affected_vm
                .as_ref()
                .and_then(|id| h.vms.iter().find(|v| &v.id == id))
            else {
                continue;
            };
            let mut o = (
                Object {
                    instance: Instance::new(AJE)
                        .with("AffectedElement", Value::Reference(self.vm_cs(vm, now).epr))
                        .with("AffectingElement", Value::Reference(self.job_object(j, now).epr))
                        .with("ElementEffects", Value::Array(vec![Scalar::Uint16(1)])),
                    epr: Epr::new(uri(AJE), SelectorSet::new()),
                },
                ("AffectingElement", self.job_object(j, now).epr),
                ("AffectedElement", self.vm_cs(vm, now).epr),
            );
            o.0.instance.set("OtherElementEffectsDescriptions", Value::Null);
            out.push(o);
        }
        out
    }

    /// WS-Transfer Get of one instance.
    pub fn get(
        &mut self,
        host: HostId,
        class: &str,
        selectors: &SelectorSet,
        now: SystemTime,
    ) -> Result<Object, SimFault> {
        self.advance(now);
        self.resolve(host, class, selectors, now, "GetObject")
    }

    /// Finds the instance named by class and selectors, with Windows' selector rules.
    pub(super) fn resolve(
        &self,
        host: HostId,
        class: &str,
        sel: &SelectorSet,
        now: SystemTime,
        op: &str,
    ) -> Result<Object, SimFault> {
        let what = format!(
            "{class} {}",
            sel.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let not_found = || SimFault::not_found(op, &what);
        let keys: &[&str] = match class.to_ascii_lowercase().as_str() {
            "msvm_computersystem" => &["CreationClassName", "Name"],
            "msvm_replicationservice" | "msvm_virtualsystemmanagementservice" => &[
                "CreationClassName",
                "Name",
                "SystemCreationClassName",
                "SystemName",
            ],
            "msvm_shutdowncomponent" => &[
                "CreationClassName",
                "DeviceID",
                "SystemCreationClassName",
                "SystemName",
            ],
            "msvm_replicationsettingdata"
            | "msvm_replicationrelationship"
            | "msvm_concretejob"
            | "msvm_virtualsystemsettingdata" => &["InstanceID"],
            _ => return Err(not_found()),
        };
        if sel
            .iter()
            .any(|(k, _)| !keys.iter().any(|key| key.eq_ignore_ascii_case(k)))
        {
            return Err(SimFault::invalid_selectors());
        }
        if class.eq_ignore_ascii_case(SVC) {
            if sel.is_empty() {
                return Err(SimFault::provider_error(0x8004_102F, op, &what));
            }
            let all = self.instances(host, class, now).unwrap_or_default();
            return all
                .into_iter()
                .find(|o| selectors_match(sel, &o.epr.selectors))
                .ok_or_else(not_found);
        }
        // Every key must be present (a real host answers DestinationUnreachable otherwise).
        if keys.iter().any(|k| sel.get(k).is_none()) {
            return Err(not_found());
        }
        let all = self.instances(host, class, now).unwrap_or_default();
        all.into_iter()
            .find(|o| selectors_match(sel, &o.epr.selectors))
            .ok_or_else(not_found)
    }

    /// Unfiltered enumeration of a class URI (association classes included).
    pub fn enumerate_class(
        &mut self,
        host: HostId,
        class: &str,
        now: SystemTime,
    ) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        if let Some(v) = self.instances(host, class, now) {
            return Ok(v);
        }
        let assoc: Vec<Object> = self
            .links(host, now)
            .into_iter()
            .filter(|(o, _, _)| o.instance.class_name.eq_ignore_ascii_case(class))
            .map(|l| l.0)
            .collect();
        if assoc.is_empty()
            && ![ESD, SRR, SDS, AJE, HS, SD, SOVS, RSDEP]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(class))
        {
            return Err(SimFault::not_found("EnumerateInstances", class));
        }
        Ok(assoc)
    }

    /// Enumeration with a WQL filter (on the `.../v2/*` URI).
    pub fn query(&mut self, host: HostId, text: &str, now: SystemTime) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        let q = wql::parse(text)
            .map_err(|e| SimFault::cannot_process_filter(text, &format!("The query is not valid: {e}.")))?;
        match q {
            Query::Select { class, conditions } => {
                let all = self.enumerate_class(host, &class, now).map_err(|_| {
                    SimFault::cannot_process_filter(
                        text,
                        "The specified class does not exist in the given namespace.",
                    )
                })?;
                if let Some(o) = all.first() {
                    for (p, _) in conditions.iter().flatten() {
                        if o.instance.get(p).is_none() {
                            return Err(SimFault::cannot_process_filter(
                                text,
                                &format!("The property {p} does not exist."),
                            ));
                        }
                    }
                }
                Ok(all
                    .into_iter()
                    .filter(|o| {
                        conditions.is_empty()
                            || conditions
                                .iter()
                                .any(|all| all.iter().all(|(p, v)| value_matches(o.instance.get(p), v)))
                    })
                    .collect())
            }
            Query::Associators {
                class,
                keys,
                assoc_class,
                result_class,
                role,
                result_role,
            } => {
                let object = Epr::new(uri(&class), keys.into_iter().collect());
                self.associated(
                    host,
                    &object,
                    false,
                    assoc_class.as_deref(),
                    result_class.as_deref(),
                    role.as_deref(),
                    result_role.as_deref(),
                    now,
                )
            }
        }
    }

    /// Association traversal (DSP0227 associationFilter, or WQL `ASSOCIATORS OF`):
    /// `association_instances` selects `AssociationInstances` (the link objects) instead of
    /// `AssociatedInstances` (the far ends).
    #[allow(clippy::too_many_arguments)]
    pub fn associated(
        &mut self,
        host: HostId,
        object: &Epr,
        association_instances: bool,
        assoc_class: Option<&str>,
        result_class: Option<&str>,
        role: Option<&str>,
        result_role: Option<&str>,
        now: SystemTime,
    ) -> Result<Vec<Object>, SimFault> {
        self.advance(now);
        let src_class = object.class_name().to_owned();
        // The source object must exist.
        self.resolve(host, &src_class, &object.selectors, now, "ExecQuery")?;
        let eq = |a: Option<&str>, b: &str| a.is_none_or(|a| a.eq_ignore_ascii_case(b));
        let mut out = Vec::new();
        for (link, (ra, a), (rb, bb)) in self.links(host, now) {
            if !eq(assoc_class, &link.instance.class_name) {
                continue;
            }
            for ((near_role, near), (far_role, far)) in [((ra, &a), (rb, &bb)), ((rb, &bb), (ra, &a))] {
                if !same_object(near, &src_class, &object.selectors)
                    || !eq(role, near_role)
                    || !eq(result_role, far_role)
                {
                    continue;
                }
                if association_instances {
                    if eq(result_class, &link.instance.class_name) {
                        out.push(link.clone());
                    }
                } else if eq(result_class, far.class_name()) {
                    if let Ok(o) = self.resolve(host, far.class_name(), &far.selectors, now, "ExecQuery") {
                        out.push(o);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// True when every given selector matches the instance's keys (case-insensitive names and values).
fn selectors_match(given: &SelectorSet, keys: &SelectorSet) -> bool {
    given
        .iter()
        .all(|(k, v)| keys.get(k).is_some_and(|kv| kv.eq_ignore_ascii_case(v)))
}

fn same_object(epr: &Epr, class: &str, sel: &SelectorSet) -> bool {
    epr.class_name().eq_ignore_ascii_case(class)
        && selectors_match(sel, &epr.selectors)
        && selectors_match(&epr.selectors, sel)
}

fn value_matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::Scalar(sc)) => match sc {
            Scalar::String(s) => s.eq_ignore_ascii_case(want),
            Scalar::Boolean(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            other => other.as_u64().map(|n| n.to_string()).as_deref() == Some(want.trim()),
        },
        _ => false,
    }
}
