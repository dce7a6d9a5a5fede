//! The WinRM endpoint: HTTP/1.1 (optionally TLS) on 127.0.0.1, `POST /wsman`, NTLM over the
//! `Negotiate` and `NTLM` schemes with the security context bound to the TCP connection, and
//! WinRM message encryption ([MS-WSMV 2.2.9.1]) required over plain HTTP like a default
//! Windows listener (`AllowUnencrypted = false`).
// The steps of an exchange return an early reply as `Err`: it is built once per exchange and
// moved once, as the `Ok` reply is.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use winrm_auth::framing;
use winrm_auth::ntlm::{NtlmAcceptor, UserTable};
use wsman_soap::response::ResponseBody;
use wsman_soap::{class_of, parse_request, response_action, Limits, RequestBody};
use zeroize::Zeroizing;

use crate::auth::{self, AuthConnection, Leg, SealError};
use crate::fault::SimFault;
use crate::inject::{FaultAction, FaultHandle};
use crate::model::{HostId, JobInjection, World};
use crate::ops::{self, EnumStore, OpContext};
use crate::stats::StatsInner;
use crate::tls::TlsSetup;
use crate::variance::Variance;

/// What encrypted framing ([MS-WSMV 2.2.9.1]) may add to a SOAP envelope on the wire (the
/// part headers, the signature and the boundaries: about 200 bytes), with room to spare: a
/// body up to this much over the limit is read and unsealed, and its envelope refused with
/// the security context intact; a larger body is refused unread and ends the context.
const FRAMING_SLACK: usize = 16 * 1024;

/// A user the endpoint accepts.
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) domain: String,
    pub(crate) user: String,
    pub(crate) password: Zeroizing<String>,
}

/// Everything the connections of one endpoint share.
pub(crate) struct Shared {
    pub(crate) world: Arc<Mutex<World>>,
    pub(crate) host: HostId,
    pub(crate) machine: String,
    pub(crate) dns_domain: String,
    pub(crate) users: RwLock<(Vec<User>, Arc<UserTable>)>,
    pub(crate) faults: FaultHandle,
    pub(crate) stats: Arc<StatsInner>,
    pub(crate) enums: Mutex<EnumStore>,
    pub(crate) https: bool,
    pub(crate) allow_basic: bool,
    pub(crate) allow_unencrypted: bool,
    pub(crate) channel_bindings: Option<winrm_auth::cbt::ChannelBindings>,
    /// The listener's `MaxEnvelopeSizekb` in bytes: the largest request envelope accepted and
    /// the largest response sent.
    pub(crate) max_envelope: usize,
    /// How long every HTTP exchange waits before its reply is written (an emulated network
    /// round trip); zero by default.
    pub(crate) latency: Duration,
    /// How responses differ from the canonical output ([`Variance`]).
    pub(crate) variance: RwLock<Variance>,
}

impl Shared {
    pub(crate) fn variance(&self) -> Variance {
        self.variance
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// [`wsman_soap::write_response`], then [`Variance::restyle`].
    fn write(&self, action: &str, message_id: &str, relates_to: &str, body: &ResponseBody) -> String {
        self.variance()
            .restyle(wsman_soap::write_response(action, message_id, relates_to, body))
    }

    pub(crate) fn add_user(&self, domain: &str, user: &str, password: &str) {
        let mut g = self.users.write().unwrap_or_else(PoisonError::into_inner);
        g.0.push(User {
            domain: domain.to_owned(),
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        });
        let mut table = UserTable::new();
        for u in &g.0 {
            table.add(&u.domain, &u.user, &u.password);
        }
        g.1 = Arc::new(table);
    }

    fn table(&self) -> Arc<UserTable> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }

    fn basic_ok(&self, name: &str, password: &str) -> bool {
        let (dom, user) = match name.split_once('\\') {
            Some((d, u)) => (Some(d), u),
            None => match name.split_once('@') {
                Some((u, d)) => (Some(d.split('.').next().unwrap_or(d)), u),
                None => (None, name),
            },
        };
        let g = self.users.read().unwrap_or_else(PoisonError::into_inner);
        g.0.iter().any(|u| {
            u.user.eq_ignore_ascii_case(user)
                && dom.is_none_or(|d| d.eq_ignore_ascii_case(&u.domain))
                && u.password.as_str() == password
        })
    }

    fn acceptor(&self) -> NtlmAcceptor {
        auth::ntlm_acceptor(
            self.table(),
            &self.machine,
            &self.dns_domain,
            self.channel_bindings.clone(),
        )
    }
}

/// Accepts connections until `shutdown` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsSetup>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _peer)) = accepted else { continue };
        shared.stats.connection();
        let shared = shared.clone();
        let sd = shutdown.clone();
        let tls = tls.as_ref().map(|t| t.acceptor.clone());
        tokio::spawn(async move {
            match tls {
                Some(acc) => {
                    if let Ok(s) = acc.accept(stream).await {
                        serve_conn(TokioIo::new(s), shared, sd).await;
                    }
                }
                None => serve_conn(TokioIo::new(stream), shared, sd).await,
            }
        });
    }
}

async fn serve_conn<I>(io: I, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = Arc::new(tokio::sync::Mutex::new(AuthConnection::default()));
    let kill = Arc::new(Notify::new());
    let k2 = kill.clone();
    let svc = service_fn(move |req| {
        let (shared, conn, kill) = (shared.clone(), conn.clone(), k2.clone());
        async move {
            shared.stats.exchange();
            let response = handle(&shared, &conn, &kill, req).await;
            if !shared.latency.is_zero() {
                tokio::time::sleep(shared.latency).await;
            }
            Ok::<_, Infallible>(response)
        }
    });
    let c = http1::Builder::new().keep_alive(true).serve_connection(io, svc);
    tokio::select! {
        _ = c => {}
        _ = kill.notified() => {}
        _ = shutdown.changed() => {}
    }
}

fn reply(status: StatusCode, content_type: Option<&str>, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert(CONTENT_TYPE, ct);
    }
    r.headers_mut().insert(
        hyper::header::SERVER,
        HeaderValue::from_static("Microsoft-HTTPAPI/2.0"),
    );
    r
}

fn unauthorized(shared: &Shared, token: Option<(&str, &[u8])>) -> Response<Full<Bytes>> {
    shared.stats.unauthorized();
    let mut r = reply(StatusCode::UNAUTHORIZED, None, Vec::new());
    let h = r.headers_mut();
    match token {
        Some((scheme, t)) => {
            let v = format!("{scheme} {}", base64::engine::general_purpose::STANDARD.encode(t));
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(WWW_AUTHENTICATE, v);
            }
        }
        None => {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
            h.append(WWW_AUTHENTICATE, HeaderValue::from_static("NTLM"));
            if shared.https && shared.allow_basic {
                h.append(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"WSMAN\""),
                );
            }
        }
    }
    r
}

const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";

/// A reply: an `Err` of the steps below is a reply that ends the exchange early (a refusal).
type Reply = Response<Full<Bytes>>;

/// The request headers the exchange looks at.
struct Head {
    authorization: Option<String>,
    content_type: String,
    /// `WSMANIDENTIFY: unauthenticated` ([MS-WSMV 3.1.4.16]).
    anonymous_identify: bool,
}

impl Head {
    fn of(req: &HttpRequest<Incoming>) -> Self {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        Self {
            authorization: header(AUTHORIZATION.as_str()).map(str::to_owned),
            content_type: header(CONTENT_TYPE.as_str()).unwrap_or("").to_owned(),
            anonymous_identify: header("WSMANIDENTIFY")
                .is_some_and(|v| v.eq_ignore_ascii_case("unauthenticated")),
        }
    }
}

/// One HTTP exchange: read, authenticate (a handshake leg ends here), decrypt, check the
/// size, dispatch the SOAP request, seal and send the reply.
async fn handle(
    shared: &Shared,
    conn: &tokio::sync::Mutex<AuthConnection>,
    kill: &Notify,
    req: HttpRequest<Incoming>,
) -> Reply {
    match exchange(shared, conn, kill, req).await {
        Ok(r) | Err(r) => r,
    }
}

async fn exchange(
    shared: &Shared,
    conn: &tokio::sync::Mutex<AuthConnection>,
    kill: &Notify,
    req: HttpRequest<Incoming>,
) -> Result<Reply, Reply> {
    if req.method() != Method::POST || !req.uri().path().eq_ignore_ascii_case("/wsman") {
        return Err(reply(StatusCode::NOT_FOUND, None, Vec::new()));
    }
    let head = Head::of(&req);
    let body = read_body(shared, conn, req).await?;
    let mut conn = conn.lock().await;
    let basic_user = authenticate(shared, &mut conn, head.authorization.as_deref())?;
    if !conn.is_established() && !basic_user {
        return Err(anonymous(shared, head.anonymous_identify, &body));
    }
    // The empty-body POST that completes the handshake (pywinrm, pypsrp).
    if body.is_empty() {
        return Ok(reply(StatusCode::OK, None, Vec::new()));
    }
    let encrypt_reply = framing::is_encrypted(&head.content_type);
    let plaintext = decrypt(shared, &mut conn, &head.content_type, &body, basic_user)?;
    if plaintext.len() > shared.max_envelope {
        return Err(request_too_large(shared));
    }
    dispatch(shared, &mut conn, kill, &plaintext, encrypt_reply).await
}

/// Reads the body up to the listener's limit plus the framing slack; a larger one is refused
/// unread and ends the security context.
async fn read_body(
    shared: &Shared,
    conn: &tokio::sync::Mutex<AuthConnection>,
    req: HttpRequest<Incoming>,
) -> Result<Bytes, Reply> {
    let limit = shared.max_envelope.saturating_add(FRAMING_SLACK);
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => {
            // Unread, a sealed body leaves the sequence numbers out of step: drop the context.
            conn.lock().await.end_session();
            Err(request_too_large(shared))
        }
    }
}

/// Authentication: Basic (HTTPS only, when allowed), or one leg of an NTLM handshake (a
/// challenge ends the exchange). `Ok(true)`: a Basic user; `Ok(false)`: no Authorization
/// header, or the handshake completed on this request.
fn authenticate(
    shared: &Shared,
    conn: &mut AuthConnection,
    authorization: Option<&str>,
) -> Result<bool, Reply> {
    let Some(a) = authorization else {
        return Ok(false);
    };
    let (scheme, token) = a.split_once(' ').unwrap_or((a, ""));
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("Basic") {
        return basic(shared, token).map(|()| true);
    }
    if !scheme.eq_ignore_ascii_case("Negotiate") && !scheme.eq_ignore_ascii_case("NTLM") {
        return Err(unauthorized(shared, None));
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return Err(unauthorized(shared, None));
    };
    let scheme = if scheme.eq_ignore_ascii_case("NTLM") {
        "NTLM"
    } else {
        "Negotiate"
    };
    match conn.step(scheme, &bytes, || Box::new(shared.acceptor())) {
        Leg::Continue(challenge) => Err(unauthorized(shared, Some((conn.scheme(), &challenge)))),
        Leg::Done(_) => {
            shared.stats.handshake();
            Ok(false)
        }
        Leg::Refused => Err(unauthorized(shared, None)),
    }
}

/// HTTP Basic with a known user, over HTTPS and only when the listener allows it.
fn basic(shared: &Shared, token: &str) -> Result<(), Reply> {
    if !shared.https || !shared.allow_basic {
        return Err(unauthorized(shared, None));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap_or_default();
    let text = Zeroizing::new(String::from_utf8_lossy(&decoded).into_owned());
    let (u, p) = text.split_once(':').unwrap_or((text.as_str(), ""));
    if !shared.basic_ok(u, p) {
        return Err(unauthorized(shared, None));
    }
    Ok(())
}

/// An unauthenticated request: only an anonymous Identify ([MS-WSMV 3.1.4.16]: plain body,
/// header `WSMANIDENTIFY: unauthenticated`) is answered, anything else gets the 401.
fn anonymous(shared: &Shared, anonymous_identify: bool, body: &[u8]) -> Reply {
    if anonymous_identify {
        if let Ok(r) = parse_request(body, &Limits::default()) {
            if matches!(r.body, RequestBody::Identify) {
                shared.stats.request("Identify");
                let xml = shared.write("", "", "", &ops::identify_body());
                return reply(StatusCode::OK, Some(SOAP_CT), xml.into_bytes());
            }
        }
    }
    unauthorized(shared, None)
}

/// Decryption, or the refusal a default listener gives a plaintext body over HTTP.
fn decrypt(
    shared: &Shared,
    conn: &mut AuthConnection,
    content_type: &str,
    body: &[u8],
    basic_user: bool,
) -> Result<Vec<u8>, Reply> {
    if framing::is_encrypted(content_type) {
        return conn.unseal(content_type, body).map_err(|e| match e {
            SealError::NoContext => unauthorized(shared, None),
            SealError::Framing(_) => {
                // Sequence numbers are out of step now: the context is unusable.
                conn.end_session();
                reply(StatusCode::BAD_REQUEST, None, Vec::new())
            }
        });
    }
    if shared.https || shared.allow_unencrypted || basic_user {
        return Ok(body.to_vec());
    }
    shared.stats.request("refused-unencrypted");
    let f = ops::to_fault(&unencrypted_fault(), &shared.machine);
    let xml = shared.write(
        crate::fault::ACTION_WSMAN_FAULT,
        &msg_id(),
        "",
        &ResponseBody::Fault(f),
    );
    Err(reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some(SOAP_CT),
        xml.into_bytes(),
    ))
}

/// Parses the SOAP request, applies the injected fault for it, executes it against the model
/// and responds.
async fn dispatch(
    shared: &Shared,
    conn: &mut AuthConnection,
    kill: &Notify,
    plaintext: &[u8],
    encrypt_reply: bool,
) -> Result<Reply, Reply> {
    let mut r = match parse_request(plaintext, &Limits::default()) {
        Ok(r) => r,
        Err(e) => return Err(invalid_request(shared, conn, e, encrypt_reply)),
    };
    shared.variance().adjust_request(&mut r);
    let injected = take_injected(shared, &r);
    before_execute(shared, conn, kill, &r, injected.as_ref(), encrypt_reply).await?;
    let injection = injected
        .as_ref()
        .map(FaultAction::job_injection)
        .unwrap_or_default();
    let body = shared
        .variance()
        .adjust_body(execute(shared, &r, &injection, response_limit(shared, &r)));
    Ok(respond(shared, conn, kill, &r, &body, injected, encrypt_reply).await)
}

/// Writes the reply to an executed request and sends it: sealed when the request was, unless
/// an injected fault drops the connection, sends it in plaintext or corrupts its signature.
async fn respond(
    shared: &Shared,
    conn: &mut AuthConnection,
    kill: &Notify,
    r: &wsman_soap::Request,
    body: &ResponseBody,
    injected: Option<FaultAction>,
    encrypt_reply: bool,
) -> Reply {
    let status = if matches!(body, ResponseBody::Fault(_)) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let resp_action = match &body {
        ResponseBody::Fault(f) => f
            .action
            .clone()
            .unwrap_or_else(|| crate::fault::ACTION_WSMAN_FAULT.to_owned()),
        _ => response_action(&r.header.action),
    };
    let xml = shared.write(&resp_action, &msg_id(), &r.header.message_id, body);
    match injected {
        Some(FaultAction::DropAfterExecute) => {
            kill.notify_one();
            std::future::pending().await
        }
        Some(FaultAction::UnencryptedReply) => reply(status, Some(SOAP_CT), xml.into_bytes()),
        Some(FaultAction::BadSignature) => finish(conn, encrypt_reply, status, xml, Some(Corrupt::Signature)),
        Some(FaultAction::CorruptSeal) => finish(conn, encrypt_reply, status, xml, Some(Corrupt::Sealed)),
        _ => finish(conn, encrypt_reply, status, xml, None),
    }
}

/// The fault for a request that does not parse: SchemaValidationError, with HTTP 400 when it
/// is not even XML the schema can be checked on.
fn invalid_request(
    shared: &Shared,
    conn: &mut AuthConnection,
    e: wsman_soap::Error,
    encrypt_reply: bool,
) -> Reply {
    shared.stats.request("invalid");
    let f = match e {
        wsman_soap::Error::Schema(d) => SimFault::schema_validation(&d),
        other => {
            let mut f = SimFault::schema_validation(&other.to_string());
            f.http_status = 400;
            f
        }
    };
    let body = ResponseBody::Fault(ops::to_fault(&f, &shared.machine));
    let xml = shared.write(&f.action, &msg_id(), "", &body);
    finish(conn, encrypt_reply, status_of(f.http_status), xml, None)
}

/// Counts the request and takes the fault injected for it, if any.
fn take_injected(shared: &Shared, r: &wsman_soap::Request) -> Option<FaultAction> {
    let method = match &r.body {
        RequestBody::Invoke { method, .. } => Some(method.as_str()),
        _ => None,
    };
    let class = r.header.resource_uri.as_deref().map(class_of);
    let label = match (&r.body, method) {
        (RequestBody::Identify, _) => "Identify".to_owned(),
        (_, Some(m)) => format!("Invoke:{m}"),
        _ => r.header.action.rsplit('/').next().unwrap_or_default().to_owned(),
    };
    shared.stats.request(&label);
    if let (RequestBody::Invoke { method, params }, Some(class)) = (&r.body, class) {
        if let Some(vm) = invoked_vm(class, &r.header.selectors, params) {
            shared.stats.vm_invoke(vm, method);
        }
    }
    let injected = shared.faults.take(&r.header.action, method, class);
    tracing::debug!(host = %shared.machine, request = %label, injected = ?injected, "request");
    injected
}

/// The VM an Invoke is about: the `Name` of an `Msvm_ComputerSystem` target, the `SystemName`
/// of an `Msvm_ShutdownComponent`, or the `Name` the `ComputerSystem` reference parameter of a
/// replication service method names.
fn invoked_vm<'a>(
    class: &str,
    selectors: &'a wsman_soap::SelectorSet,
    params: &'a [(String, wsman_soap::Value)],
) -> Option<&'a str> {
    if class.eq_ignore_ascii_case("Msvm_ComputerSystem") {
        return selectors.get("Name");
    }
    if class.eq_ignore_ascii_case("Msvm_ShutdownComponent") {
        return selectors.get("SystemName");
    }
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("ComputerSystem"))
        .and_then(|(_, v)| v.as_reference())
        .and_then(|e| e.selectors.get("Name"))
}

/// The injected faults that act before the request executes: a dropped connection, a 401, a
/// timeout, a delay or a fault reply (`Err`: the reply instead of executing).
async fn before_execute(
    shared: &Shared,
    conn: &mut AuthConnection,
    kill: &Notify,
    r: &wsman_soap::Request,
    injected: Option<&FaultAction>,
    encrypt_reply: bool,
) -> Result<(), Reply> {
    let fault_reply = |conn: &mut AuthConnection, f: &SimFault| {
        let body = ResponseBody::Fault(ops::to_fault(f, &shared.machine));
        let xml = shared.write(&f.action, &msg_id(), &r.header.message_id, &body);
        finish(conn, encrypt_reply, status_of(f.http_status), xml, None)
    };
    match injected {
        Some(FaultAction::DropBeforeExecute) => {
            kill.notify_one();
            std::future::pending().await
        }
        Some(FaultAction::Unauthorized) => {
            conn.reset();
            Err(unauthorized(shared, None))
        }
        Some(FaultAction::TimeOut { cap }) => {
            let timeout = r.header.operation_timeout.unwrap_or(Duration::from_secs(60));
            tokio::time::sleep(timeout.min(*cap)).await;
            Err(fault_reply(conn, &SimFault::timed_out()))
        }
        Some(FaultAction::Delay(d)) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
        Some(FaultAction::Fault(f)) => Err(fault_reply(conn, f)),
        _ => Ok(()),
    }
}

/// The response size limit of a request: its `w:MaxEnvelopeSize`, lowered to the listener's
/// `MaxEnvelopeSizekb` (also the value when the request has none) ([MS-WSMV 3.1.4.1.7]).
fn response_limit(shared: &Shared, r: &wsman_soap::Request) -> usize {
    r.header
        .max_envelope_size
        .and_then(|m| usize::try_from(m).ok())
        .map_or(shared.max_envelope, |m| m.min(shared.max_envelope))
}

/// A request envelope over the listener's `MaxEnvelopeSizekb`: HTTP 413 with no body, which a
/// Windows client reports as 0x80338111 (ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS, "the
/// request size exceeded the configured MaxEnvelopeSize quota"). The request is not executed.
fn request_too_large(shared: &Shared) -> Response<Full<Bytes>> {
    shared.stats.request("refused-too-large");
    reply(StatusCode::PAYLOAD_TOO_LARGE, None, Vec::new())
}

fn execute(
    shared: &Shared,
    r: &wsman_soap::Request,
    injection: &JobInjection,
    max_envelope: usize,
) -> ResponseBody {
    let mut world = shared.world.lock().unwrap_or_else(PoisonError::into_inner);
    let mut enums = shared.enums.lock().unwrap_or_else(PoisonError::into_inner);
    let cx = OpContext {
        host: shared.host,
        machine: &shared.machine,
        now: SystemTime::now(),
        instant: Instant::now(),
        injection,
    };
    ops::execute_limited(&mut world, &mut enums, r, &cx, max_envelope)
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn msg_id() -> String {
    format!("uuid:{}", crate::model::new_guid())
}

/// The fault a Windows listener with `AllowUnencrypted = false` answers a plaintext SOAP body
/// over HTTP with (HTTP 500; reported by pywinrm/winrm4j users as "Bad HTTP response 500").
fn unencrypted_fault() -> SimFault {
    let mut f = SimFault::access_denied();
    f.message = Some(
        "The WinRM service cannot process the request because the request needs to be encrypted (AllowUnencrypted is false). "
            .to_owned(),
    );
    f
}

/// Which byte of a sealed reply fault injection flips.
#[derive(Debug, Clone, Copy)]
enum Corrupt {
    /// One of the signature's checksum.
    Signature,
    /// One of the sealed SOAP body.
    Sealed,
}

/// Seals (when the request was sealed) and sends the reply; `corrupt` flips one byte of it.
fn finish(
    conn: &mut AuthConnection,
    encrypt: bool,
    status: StatusCode,
    xml: String,
    corrupt: Option<Corrupt>,
) -> Response<Full<Bytes>> {
    if !encrypt {
        return reply(status, Some(SOAP_CT), xml.into_bytes());
    }
    match conn.seal(xml.as_bytes()) {
        Ok((ct, mut body)) => {
            if let Some(what) = corrupt {
                flip_sealed_byte(&mut body, what);
            }
            reply(status, Some(&ct), body)
        }
        Err(SealError::NoContext) => reply(status, Some(SOAP_CT), xml.into_bytes()),
        Err(SealError::Framing(_)) => reply(StatusCode::INTERNAL_SERVER_ERROR, None, Vec::new()),
    }
}

/// Flips one byte of a framed body ([MS-WSMV 2.2.9.1]): after `application/octet-stream\r\n`
/// come the 4-byte header length, the 16-byte NTLM signature (version 4 bytes, checksum 8,
/// sequence 4) and the sealed bytes.
fn flip_sealed_byte(body: &mut [u8], what: Corrupt) {
    const SIGNATURE_LEN: usize = winrm_auth::ntlm::SIGNATURE_LEN;
    let marker = b"application/octet-stream\r\n";
    if let Some(pos) = body.windows(marker.len()).position(|w| w == marker) {
        let header = pos + marker.len() + 4;
        let i = match what {
            Corrupt::Signature => header + 6,
            Corrupt::Sealed => header + SIGNATURE_LEN + 10,
        };
        if let Some(b) = body.get_mut(i) {
            *b ^= 0xFF;
        }
    }
}
