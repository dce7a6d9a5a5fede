//! WS-Management operations over the model: a parsed request in, a response body out
//! (sans-IO apart from the time passed in). The HTTP server wraps this with auth and encryption.
// Faults are returned by value: they are built once per failed request.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use wsman_soap::response::{
    EnumerationPage, ExtendedStatus, Fault, IdentifyResponse, Item, ProviderFault, ResponseBody,
};
use wsman_soap::{
    class_of, ns, response_action, write_response, AssociationKind, EnumerationMode, Filter, Request,
    RequestBody,
};

use crate::fault::{SimFault, WMI_PROVIDER_PATH};
use crate::model::{HostId, JobInjection, Object, World, NAMESPACE};

/// The resource URI prefix every supported class lives under.
pub fn namespace_prefix() -> String {
    format!("{}{}/", ns::WMI_BASE, NAMESPACE)
}

/// Converts a simulator fault to the wire model, stamped with the machine name.
pub fn to_fault(f: &SimFault, machine: &str) -> Fault {
    Fault {
        action: Some(f.action.clone()),
        code: f.code.clone(),
        subcode: Some(f.subcode.clone()),
        subcode_ns: Some(f.subcode_ns.clone()),
        reason: Some(f.reason.clone()),
        wsman_code: Some(f.wsman_code),
        machine: Some(machine.to_owned()),
        message: if f.provider.is_some() {
            None
        } else {
            f.message.clone()
        },
        provider: f.provider.as_ref().map(|(code, msg)| ProviderFault {
            provider: Some("WMI Provider".to_owned()),
            path: Some(WMI_PROVIDER_PATH.to_owned()),
            wsman_code: Some(*code),
            message: Some(msg.clone()),
        }),
        extended_status: f.extended_status.as_ref().map(|(op, info)| ExtendedStatus {
            description: None,
            operation: Some(op.clone()),
            parameter_info: Some(info.clone()),
            provider_name: Some("WinMgmt".to_owned()),
            status_code: None,
        }),
        wmi_error: None,
        fault_details: f.fault_details.clone(),
    }
}

struct EnumContext {
    items: VecDeque<Item>,
    expires: Instant,
}

/// The Windows default of `MaxBatchItems` ([MS-WSMV 2.2.4.10] ConfigType).
pub const DEFAULT_MAX_BATCH_ITEMS: u32 = 32_000;

/// Open enumeration contexts of one endpoint ([MS-WSMV 3.1.5] garbage collection timer), and
/// the listener's `MaxBatchItems`.
pub struct EnumStore {
    contexts: HashMap<String, EnumContext>,
    ttl: Duration,
    max_batch_items: u32,
}

impl EnumStore {
    /// A store whose contexts expire `ttl` after their last use, with the default
    /// `MaxBatchItems` ([`DEFAULT_MAX_BATCH_ITEMS`]).
    pub fn new(ttl: Duration) -> Self {
        Self {
            contexts: HashMap::new(),
            ttl,
            max_batch_items: DEFAULT_MAX_BATCH_ITEMS,
        }
    }

    /// The same store with another `MaxBatchItems`.
    #[must_use]
    pub fn with_max_batch_items(mut self, max_batch_items: u32) -> Self {
        self.max_batch_items = max_batch_items;
        self
    }

    /// The number of items an Enumerate (optimized) or Pull asks for.
    ///
    /// Without `MaxElements` that is one: WS-Enumeration §3.2 (Pull) and [DSP0226 8.2.3]
    /// (optimized Enumerate) define an absent MaxElements as 1, and a Windows host sends one
    /// item per response then. `MaxElements` must be a positive integer no larger than the
    /// listener's `MaxBatchItems` ([MS-WSMAN 3.2.4.1.6]); otherwise the request is refused
    /// with [`SimFault::invalid_batch_parameter`] (see there for the assumption).
    fn page_size(&self, max_elements: Option<u32>) -> Result<u32, SimFault> {
        match max_elements {
            None => Ok(1),
            Some(n) if n == 0 || n > self.max_batch_items => {
                Err(SimFault::invalid_batch_parameter(n, self.max_batch_items))
            }
            Some(n) => Ok(n),
        }
    }

    /// Number of open contexts.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// True when no context is open.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    fn gc(&mut self, now: Instant) {
        self.contexts.retain(|_, c| c.expires > now);
    }

    /// Takes up to `max` items, fewer when the page would not fit the `budget`; returns the
    /// page (context kept open while items remain).
    ///
    /// When not even one item fits, the answer is `w:EncodingLimit`; the items stay in the
    /// context when `keep_on_fault` (a Pull: the client still holds the context and may
    /// Release it, or Pull again with a larger MaxEnvelopeSize).
    fn page(
        &mut self,
        id: String,
        mut items: VecDeque<Item>,
        max: u32,
        now: Instant,
        budget: Option<&Budget<'_>>,
        keep_on_fault: bool,
    ) -> Result<EnumerationPage, SimFault> {
        let mut n = usize::try_from(max).unwrap_or(usize::MAX).min(items.len());
        let mut taken: Vec<Item> = items.drain(..n).collect();
        let page = loop {
            let page = EnumerationPage {
                context: (!items.is_empty()).then(|| id.clone()),
                items: taken,
                end_of_sequence: items.is_empty(),
            };
            let Some(b) = budget else { break page };
            let size = b.size(&ResponseBody::Enumeration(page.clone()));
            if size <= b.max {
                break page;
            }
            taken = page.items;
            if n <= 1 {
                // Not even one item fits.
                for it in taken.into_iter().rev() {
                    items.push_front(it);
                }
                if keep_on_fault {
                    self.contexts.insert(
                        id,
                        EnumContext {
                            items,
                            expires: now + self.ttl,
                        },
                    );
                }
                return Err(SimFault::encoding_limit(size, b.max));
            }
            // Shrink in proportion to the overshoot, by at least one item.
            let scaled = n.saturating_mul(b.max) / size.max(1);
            n = scaled.clamp(1, n - 1);
            for it in taken.drain(n..).rev() {
                items.push_front(it);
            }
        };
        if !items.is_empty() {
            self.contexts.insert(
                id,
                EnumContext {
                    items,
                    expires: now + self.ttl,
                },
            );
        }
        Ok(page)
    }
}

/// What an operation needs besides the request.
pub struct OpContext<'a> {
    /// The host this endpoint serves.
    pub host: HostId,
    /// Its NetBIOS name (fault `Machine`).
    pub machine: &'a str,
    /// Wall-clock time.
    pub now: SystemTime,
    /// Monotonic time (context expiry).
    pub instant: Instant,
    /// Job fault injection for an Invoke.
    pub injection: &'a JobInjection,
}

/// Executes one request. Faults come back as `ResponseBody::Fault`. No envelope size limit:
/// see [`execute_limited`].
pub fn execute(world: &mut World, store: &mut EnumStore, req: &Request, cx: &OpContext<'_>) -> ResponseBody {
    match run(world, store, req, cx, None) {
        Ok(b) => b,
        Err(f) => ResponseBody::Fault(to_fault(&f, cx.machine)),
    }
}

/// [`execute`] with the response held to `max_envelope` bytes (the request's effective
/// `w:MaxEnvelopeSize`, [MS-WSMV 3.1.4.1.7]), measured as the envelope
/// [`wsman_soap::write_response`] writes for it: Enumerate and Pull pages carry fewer items
/// so that they fit (at least one), and a response that cannot fit (a Get or Invoke output,
/// a single enumeration item) is the `w:EncodingLimit` fault
/// ([`SimFault::encoding_limit`]). An Invoke has run by then, as on Windows.
pub fn execute_limited(
    world: &mut World,
    store: &mut EnumStore,
    req: &Request,
    cx: &OpContext<'_>,
    max_envelope: usize,
) -> ResponseBody {
    let budget = Budget {
        max: max_envelope,
        action: response_action(&req.header.action),
        relates_to: &req.header.message_id,
    };
    let result = run(world, store, req, cx, Some(&budget)).and_then(|body| {
        let size = budget.size(&body);
        if size > budget.max {
            Err(SimFault::encoding_limit(size, budget.max))
        } else {
            Ok(body)
        }
    });
    match result {
        Ok(b) => b,
        Err(f) => ResponseBody::Fault(to_fault(&f, cx.machine)),
    }
}

/// The envelope size limit of one response, and what its envelope header will hold.
struct Budget<'a> {
    max: usize,
    action: String,
    relates_to: &'a str,
}

impl Budget<'_> {
    /// The length of the envelope the server will write for `body` (its MessageID is a fresh
    /// `uuid:` of the same length as the one measured here).
    fn size(&self, body: &ResponseBody) -> usize {
        let message_id = format!("uuid:{}", crate::model::new_guid());
        write_response(&self.action, &message_id, self.relates_to, body).len()
    }
}

fn identify() -> IdentifyResponse {
    IdentifyResponse {
        protocol_version: ns::WSMAN.to_owned(),
        product_vendor: "Microsoft Corporation".to_owned(),
        product_version: "OS: 10.0.20348 SP: 0.0 Stack: 3.0".to_owned(),
        security_profiles: vec![
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos".to_owned(),
        ],
    }
}

/// The anonymous Identify response.
pub fn identify_body() -> ResponseBody {
    ResponseBody::Identify(identify())
}

fn class_from_uri(uri: Option<&str>) -> Result<String, SimFault> {
    let uri = uri.ok_or_else(|| SimFault::not_found("GetObject", "no ResourceURI"))?;
    let prefix = namespace_prefix();
    let rest = uri
        .strip_prefix(&prefix)
        .ok_or_else(|| SimFault::not_found("GetObject", uri))?;
    if rest.is_empty() || rest.contains('/') {
        return Err(SimFault::not_found("GetObject", uri));
    }
    Ok(class_of(uri).to_owned())
}

fn run(
    world: &mut World,
    store: &mut EnumStore,
    req: &Request,
    cx: &OpContext<'_>,
    budget: Option<&Budget<'_>>,
) -> Result<ResponseBody, SimFault> {
    let h = &req.header;
    store.gc(cx.instant);
    match &req.body {
        RequestBody::Identify => Ok(ResponseBody::Identify(identify())),
        RequestBody::Get => {
            let class = class_from_uri(h.resource_uri.as_deref())?;
            let o = world.get(cx.host, &class, &h.selectors, cx.now)?;
            Ok(ResponseBody::Instance(o.instance))
        }
        RequestBody::Put(_) => Err(SimFault::action_not_supported(&h.action)),
        RequestBody::Enumerate(e) => {
            let class = class_from_uri(h.resource_uri.as_deref())?;
            check_filter_target(&class, &h.selectors, e.filter.is_some())?;
            let max = if e.optimize {
                Some(store.page_size(e.max_elements)?)
            } else {
                None
            };
            let objects = match &e.filter {
                None => world.enumerate_class(cx.host, &class, cx.now)?,
                Some(Filter::Wql(q)) => world.query(cx.host, q, cx.now)?,
                Some(Filter::Association(a)) => world.associated(
                    cx.host,
                    &a.object,
                    a.kind == AssociationKind::AssociationInstances,
                    a.association_class.as_deref(),
                    if a.kind == AssociationKind::AssociationInstances {
                        None
                    } else {
                        a.result_class.as_deref()
                    },
                    a.role.as_deref(),
                    a.result_role.as_deref(),
                    cx.now,
                )?,
            };
            let items: VecDeque<Item> = objects.into_iter().map(|o| item(o, e.mode)).collect();
            let id = format!("uuid:{}", crate::model::new_guid());
            if let Some(max) = max {
                Ok(ResponseBody::Enumeration(
                    store.page(id, items, max, cx.instant, budget, false)?,
                ))
            } else {
                store.contexts.insert(
                    id.clone(),
                    EnumContext {
                        items,
                        expires: cx.instant + store.ttl,
                    },
                );
                Ok(ResponseBody::Enumeration(EnumerationPage {
                    context: Some(id),
                    items: Vec::new(),
                    end_of_sequence: false,
                }))
            }
        }
        RequestBody::Pull {
            context,
            max_elements,
        } => {
            let max = store.page_size(*max_elements)?;
            let c = store
                .contexts
                .remove(context)
                .ok_or_else(SimFault::invalid_enumeration_context)?;
            Ok(ResponseBody::Enumeration(store.page(
                context.clone(),
                c.items,
                max,
                cx.instant,
                budget,
                true,
            )?))
        }
        RequestBody::Release { context } => {
            store
                .contexts
                .remove(context)
                .ok_or_else(SimFault::invalid_enumeration_context)?;
            Ok(ResponseBody::Empty)
        }
        RequestBody::Invoke { method, params } => {
            let class = class_from_uri(h.resource_uri.as_deref())?;
            let out = world.invoke(
                cx.host,
                &class,
                &h.selectors,
                method,
                params,
                cx.now,
                cx.injection,
            )?;
            Ok(ResponseBody::Instance(out))
        }
        _ => Err(SimFault::action_not_supported(&h.action)),
    }
}

/// Where a filter may go. A filtered Enumerate (WQL or association) must name the
/// all-classes URI `…/<namespace>/*` and carry no selectors: MS docs "Querying for Specific
/// Instances of a Resource" (the class is named in the filter, the resource is `*`, and a
/// filter and selectors cannot be used together), and a real host answers a class URI with a
/// filter with CannotProcessFilter "the resource URI cannot contain keys and the class name
/// must be '*'" (reported by r4sd/go-wsman against Hyper-V). `*` names no class, so an
/// Enumerate of it without a filter is refused the same way (assumption: the same fault).
fn check_filter_target(
    class: &str,
    selectors: &wsman_soap::SelectorSet,
    filtered: bool,
) -> Result<(), SimFault> {
    let star = class == "*";
    if filtered && (!star || !selectors.is_empty()) {
        return Err(SimFault::cannot_process_filter(
            "",
            "The resource URI cannot contain keys and the class name must be '*' when a filter is used.",
        ));
    }
    if !filtered && star {
        return Err(SimFault::cannot_process_filter(
            "",
            "Enumerating the * resource URI requires a filter.",
        ));
    }
    Ok(())
}

fn item(o: Object, mode: EnumerationMode) -> Item {
    match mode {
        EnumerationMode::Epr => Item {
            instance: None,
            epr: Some(o.epr),
        },
        EnumerationMode::ObjectAndEpr => Item {
            instance: Some(o.instance),
            epr: Some(o.epr),
        },
        _ => Item {
            instance: Some(o.instance),
            epr: None,
        },
    }
}
