//! Run-time fault injection, shared between a running [`crate::SimHost`] and the test that
//! drives it.
//!
//! A test adds [`FaultRule`]s to the [`FaultHandle`]; each incoming SOAP request takes the
//! first rule that matches it (by action, method or any request), which then fires for a
//! limited number of times.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fault::SimFault;
use crate::model::{JobFailure, JobInjection};

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Match {
    /// Every SOAP request (Identify included).
    Any,
    /// Requests whose action ends with `/{name}`: `Get`, `Enumerate`, `Pull`, `Release`, or a
    /// method name (`InitiateFailover`), case-sensitive as WS-Man actions are.
    Action(String),
    /// Invoke of this method.
    Method(String),
    /// Any request on this class (`Msvm_ConcreteJob`), by the last segment of the ResourceURI.
    Class(String),
}

impl Match {
    /// True when the request with this action, method (if an Invoke) and class matches.
    pub fn matches(&self, action: &str, method: Option<&str>, class: Option<&str>) -> bool {
        match self {
            Match::Any => true,
            Match::Action(a) => action.rsplit('/').next() == Some(a.as_str()),
            Match::Method(m) => method == Some(m.as_str()),
            Match::Class(c) => class.is_some_and(|k| k.eq_ignore_ascii_case(c)),
        }
    }
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Close the TCP connection before executing (nothing happened, no reply).
    DropBeforeExecute,
    /// Execute, then close the TCP connection (the change happened, the reply is lost).
    DropAfterExecute,
    /// Wait for the request's OperationTimeout (or `cap` if shorter), then answer `w:TimedOut`
    /// without executing.
    TimeOut {
        /// Longest wait.
        cap: Duration,
    },
    /// Wait, then execute and answer normally.
    Delay(Duration),
    /// Answer this SOAP fault without executing.
    Fault(Box<SimFault>),
    /// Execute; the job it starts fails with this ErrorCode/ErrorDescription.
    FailJob {
        /// `ErrorCode`.
        code: u16,
        /// `ErrorDescription`.
        description: String,
    },
    /// Execute; the job it starts disappears after this long (Get answers not-found).
    VanishJob {
        /// Lifetime of the job object.
        after: Duration,
    },
    /// Forget the connection's security context and answer 401 (the request is not executed).
    Unauthorized,
    /// Execute and answer in plain `application/soap+xml` on an encrypted session.
    UnencryptedReply,
    /// Execute and answer encrypted, with a corrupted signature (a byte of the
    /// NTLMSSP_MESSAGE_SIGNATURE's checksum flipped): the reply fails its integrity check.
    BadSignature,
    /// Execute and answer encrypted, with one sealed byte of the SOAP body flipped and the
    /// signature left as it was: what a proxy that rewrites bodies does. The checksum covers
    /// the plaintext ([MS-NLMP 3.4.4.2]), so the reply fails its integrity check.
    CorruptSeal,
}

impl FaultAction {
    /// The job injection this action implies for an Invoke.
    pub fn job_injection(&self) -> JobInjection {
        match self {
            FaultAction::FailJob { code, description } => JobInjection {
                fail: Some(JobFailure {
                    code: *code,
                    description: description.clone(),
                }),
                vanish_after: None,
            },
            FaultAction::VanishJob { after } => JobInjection {
                fail: None,
                vanish_after: Some(*after),
            },
            _ => JobInjection::default(),
        }
    }
}

/// One injection rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Which requests.
    pub matcher: Match,
    /// What to do.
    pub action: FaultAction,
    /// Matching requests to let through before firing. Only requests that reach this rule
    /// count: while an earlier rule with the same matcher is still pending, it takes them
    /// (so `skip: 1` on `Match::Action("Pull")` fires on the 2nd Pull, and a second such rule
    /// added after it counts the Pulls after the first one fired).
    pub skip: u32,
    /// How many times to fire (`None` = every time).
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule that fires once on the next matching request.
    pub fn once(matcher: Match, action: FaultAction) -> Self {
        Self {
            matcher,
            action,
            skip: 0,
            times: Some(1),
        }
    }

    /// A rule that fires on every matching request.
    pub fn always(matcher: Match, action: FaultAction) -> Self {
        Self {
            matcher,
            action,
            skip: 0,
            times: None,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<FaultRule>,
    fired: Vec<(String, FaultAction)>,
}

/// A handle on a host's injection rules; clones share the rules.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    inner: Arc<Mutex<Inner>>,
}

impl FaultHandle {
    /// Adds a rule (rules are tried in the order added).
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Shorthand: fire `action` once on the next request matching `matcher`.
    pub fn once(&self, matcher: Match, action: FaultAction) {
        self.inject(FaultRule::once(matcher, action));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Rules that can still fire.
    pub fn pending(&self) -> usize {
        self.lock().rules.len()
    }

    /// Every firing so far: (action URI of the request, what was done).
    pub fn fired(&self) -> Vec<(String, FaultAction)> {
        self.lock().fired.clone()
    }

    /// Finds the rule for a request and consumes one firing of it.
    pub fn take(&self, action: &str, method: Option<&str>, class: Option<&str>) -> Option<FaultAction> {
        let mut g = self.lock();
        let idx = g
            .rules
            .iter()
            .position(|r| r.matcher.matches(action, method, class))?;
        let rule = &mut g.rules[idx];
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        let act = rule.action.clone();
        if let Some(t) = rule.times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                g.rules.remove(idx);
            }
        }
        g.fired.push((action.to_owned(), act.clone()));
        Some(act)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_skip_and_expire() {
        let h = FaultHandle::default();
        h.inject(FaultRule {
            matcher: Match::Method("InitiateFailover".into()),
            action: FaultAction::DropAfterExecute,
            skip: 1,
            times: Some(2),
        });
        h.once(Match::Action("Get".into()), FaultAction::Unauthorized);
        let get = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
        let inv = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService/InitiateFailover";
        assert_eq!(h.take(inv, Some("InitiateFailover"), None), None, "skipped once");
        assert_eq!(
            h.take(inv, Some("InitiateFailover"), None),
            Some(FaultAction::DropAfterExecute)
        );
        assert_eq!(
            h.take(get, None, Some("Msvm_ComputerSystem")),
            Some(FaultAction::Unauthorized)
        );
        assert_eq!(h.take(get, None, None), None, "the Get rule fired its one time");
        assert_eq!(
            h.take(inv, Some("InitiateFailover"), None),
            Some(FaultAction::DropAfterExecute)
        );
        assert_eq!(h.pending(), 0);
        assert_eq!(h.fired().len(), 3);
        h.inject(FaultRule::always(
            Match::Class("Msvm_ConcreteJob".into()),
            FaultAction::BadSignature,
        ));
        for _ in 0..3 {
            assert_eq!(
                h.take(get, None, Some("msvm_concretejob")),
                Some(FaultAction::BadSignature)
            );
        }
        h.clear();
        assert_eq!(h.take(get, None, Some("Msvm_ConcreteJob")), None);
    }

    /// Two rules on the same action count in turn: the n-th Pull, then the m-th Pull after it.
    #[test]
    fn rules_on_the_same_action_target_the_nth_request_in_turn() {
        let h = FaultHandle::default();
        let rule = |skip| FaultRule {
            matcher: Match::Action("Pull".into()),
            action: FaultAction::DropAfterExecute,
            skip,
            times: Some(1),
        };
        h.inject(rule(1));
        h.inject(rule(4));
        let pull = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
        let enumerate = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
        let mut fired_on = Vec::new();
        for n in 1..=10 {
            assert_eq!(h.take(enumerate, None, Some("Msvm_ComputerSystem")), None);
            if h.take(pull, None, Some("Msvm_ComputerSystem")).is_some() {
                fired_on.push(n);
            }
        }
        assert_eq!(fired_on, [2, 7], "the 2nd Pull, then the 5th Pull after it");
        assert_eq!(h.pending(), 0);
        assert_eq!(h.fired().len(), 2);
        assert!(h
            .fired()
            .iter()
            .all(|(a, act)| a == pull && *act == FaultAction::DropAfterExecute));
    }
}
