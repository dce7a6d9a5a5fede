//! A loopback WinRM server for the transport tests (the reqwest `tests/support/server.rs`
//! pattern): hyper over tokio, optional TLS (rustls), NTLM or a test's Kerberos context with
//! message encryption through the simulator's connection security
//! (`hyperv_sim::auth::AuthConnection`, the handshake and sealing its endpoint uses), replies
//! scripted per test (fixture files, generated envelopes, drops, delays, oversize bodies,
//! 401s, plaintext on an encrypted session).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyperv_sim::auth::{ntlm_acceptor, Acceptor, AuthConnection, Leg, SealError};
use winrm_auth::cbt::ChannelBindings;
use winrm_auth::ntlm::UserTable;

/// Resource URIs the suites talk to.
pub const RSD_URI: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationSettingData";
pub const SERVICE_URI: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ReplicationService";
pub const CS_URI: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ComputerSystem";

pub const USER: &str = "CORP\\alice";
pub const PASSWORD: &str = "Passw0rd!";

/// Path of a file under the workspace `fixtures/`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// A fixture's text.
pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// Replaces the text of the (first) `RelatesTo` element, whatever its prefix.
pub fn with_relates_to(xml: &str, message_id: &str) -> String {
    let Some(start) = xml.find("RelatesTo>").map(|i| i + "RelatesTo>".len()) else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('<').unwrap();
    format!("{}{}{}", &xml[..start], message_id, &xml[end..])
}

/// How the server authenticates.
#[derive(Clone)]
pub enum Auth {
    /// No authentication, plaintext SOAP.
    None,
    /// NTLM via `Authorization: Negotiate`; `encrypt` seals every SOAP exchange.
    Ntlm {
        encrypt: bool,
        cbt: Option<ChannelBindings>,
    },
    /// Runs the NTLM handshake but answers 401 to the final leg, forever.
    Reject,
    /// HTTP Basic with USER/PASSWORD.
    Basic,
    /// A GSSAPI acceptor supplied by the test (Kerberos); sealed exchanges.
    Gss(Arc<dyn GssServer>),
}

/// Creates one acceptor context per connection (Auth::Gss).
pub trait GssServer: Send + Sync {
    fn new_context(&self) -> Box<dyn Acceptor>;
    /// Whether requests must be sealed (message encryption required).
    fn seals(&self) -> bool {
        true
    }
}

/// What to answer to one request.
pub enum Reply {
    /// A SOAP envelope (status 200 or 500 for faults); sealed on an encrypted session.
    Soap(u16, String),
    /// A SOAP envelope sent as is (RelatesTo not rewritten); sealed on an encrypted session.
    Verbatim(u16, String),
    /// Drop the connection without answering.
    Close,
    /// Wait, then answer.
    Delay(Duration, Box<Reply>),
    /// Answer with `Connection: close`.
    ThenClose(Box<Reply>),
    /// A plaintext SOAP reply even on an encrypted session.
    Plain(u16, String),
    /// A body of this many bytes.
    Oversize(usize),
    /// 401, and forget the session's context.
    Unauthorized,
    /// A redirect: this status with `Location: <url>` and an empty body.
    Redirect(u16, String),
    /// The inner reply's body sent in chunks of this many bytes (chunked transfer encoding,
    /// no Content-Length).
    Chunked(usize, Box<Reply>),
    /// The inner reply, sealed, with one byte of its sealed data flipped (the signature left
    /// as it is): what a proxy that rewrites bodies does; the reply fails its integrity check.
    CorruptSeal(Box<Reply>),
}

/// One request as the responder sees it.
pub struct Req {
    pub action: String,
    pub message_id: String,
    pub parsed: wsman_soap::Request,
    /// Index of this request for its action (0 for the first Get, ...).
    pub nth: u64,
}

pub type Responder = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub handshakes: AtomicU64,
    pub unauthenticated_401: AtomicU64,
    /// Requests per operation name (Get, Enumerate, Pull, Release, Identify, or the method name).
    pub by_op: Mutex<HashMap<String, u64>>,
    /// Every Authorization header value seen (to check what the client sends).
    pub auth_headers: Mutex<Vec<String>>,
    pub content_types: Mutex<Vec<String>>,
    pub accept_encoding: Mutex<Vec<String>>,
    /// `Host` and `Accept` of every request, and the header names in wire order.
    pub hosts: Mutex<Vec<String>>,
    pub accepts: Mutex<Vec<String>>,
    pub header_names: Mutex<Vec<Vec<String>>>,
}

impl Stats {
    pub fn count(&self, op: &str) -> u64 {
        self.by_op.lock().unwrap().get(op).copied().unwrap_or(0)
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    /// Set to make the next authenticated request get a 401 (context lost on the server).
    pub unauthorize_next: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    https: bool,
}

impl Server {
    pub fn endpoint(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/wsman", self.addr.port())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    auth: Auth,
    responder: Responder,
    stats: Arc<Stats>,
    users: Arc<UserTable>,
    unauthorize_next: Arc<AtomicBool>,
}

pub async fn start(auth: Auth, tls: Option<Arc<rustls::ServerConfig>>, responder: Responder) -> Server {
    start_at("127.0.0.1:0", auth, tls, responder).await
}

/// [`start`] on a given address (to bring a server back on the port of one that was dropped).
pub async fn start_at(
    addr: &str,
    auth: Auth,
    tls: Option<Arc<rustls::ServerConfig>>,
    responder: Responder,
) -> Server {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut users = UserTable::new();
    users.add("CORP", "alice", PASSWORD);
    let stats = Arc::new(Stats::default());
    let unauthorize_next = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        auth,
        responder,
        stats: stats.clone(),
        users: Arc::new(users),
        unauthorize_next: unauthorize_next.clone(),
    });
    let https = tls.is_some();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            shared.stats.connections.fetch_add(1, Ordering::SeqCst);
            let shared = shared.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let conn = Arc::new(tokio::sync::Mutex::new(AuthConnection::default()));
                let svc = service_fn(move |req| handle(shared.clone(), conn.clone(), req));
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(tcp).await {
                            let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        stats,
        unauthorize_next,
        task,
        https,
    }
}

type Resp = hyper::Response<BoxBody<Bytes, std::convert::Infallible>>;

fn response(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
    let mut b = hyper::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body)).boxed()).unwrap()
}

/// `resp` with its body split into `size`-byte frames of unknown total length.
async fn chunked(resp: Resp, size: usize) -> Resp {
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let frames: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = bytes
        .chunks(size.max(1))
        .map(|c| Ok(hyper::body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    hyper::Response::from_parts(parts, body)
}

/// `resp` (a sealed reply) with the first byte of its first part's sealed data flipped.
async fn corrupt_sealed(resp: Resp) -> Resp {
    let (parts, body) = resp.into_parts();
    let mut bytes = body.collect().await.unwrap().to_bytes().to_vec();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let at = {
        let sealed = winrm_auth::framing::parse(content_type, &bytes).expect("a sealed reply");
        sealed[0].data.as_ptr() as usize - bytes.as_ptr() as usize
    };
    bytes[at] ^= 0x01;
    hyper::Response::from_parts(parts, Full::new(Bytes::from(bytes)).boxed())
}

fn challenge(token: Option<&[u8]>) -> Resp {
    let v = match token {
        Some(t) => format!(
            "Negotiate {}",
            base64::engine::general_purpose::STANDARD.encode(t)
        ),
        None => "Negotiate".to_owned(),
    };
    response(401, &[("www-authenticate", v)], Vec::new())
}

#[derive(Debug)]
struct DropConnection;
impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("test server drops the connection")
    }
}
impl std::error::Error for DropConnection {}

async fn handle(
    shared: Arc<Shared>,
    conn: Arc<tokio::sync::Mutex<AuthConnection>>,
    req: hyper::Request<Incoming>,
) -> Result<Resp, DropConnection> {
    let headers = req.headers().clone();
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    record_headers(&shared.stats, &headers);
    let content_type = get("content-type").unwrap_or_default();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| DropConnection)?
        .to_bytes()
        .to_vec();
    let mut conn = conn.lock().await;
    if let Some(refusal) = authenticate(
        &shared,
        &mut conn,
        get("authorization").as_deref(),
        body.is_empty(),
    ) {
        return Ok(refusal);
    }
    let encrypt = match &shared.auth {
        Auth::Ntlm { encrypt, .. } => *encrypt,
        Auth::Gss(server) => server.seals(),
        _ => false,
    };
    let plain = if winrm_auth::framing::is_encrypted(&content_type) {
        match conn.unseal(&content_type, &body) {
            Ok(p) => p,
            Err(SealError::NoContext) => return Ok(response(400, &[], b"no context".to_vec())),
            Err(SealError::Framing(e)) => {
                return Ok(response(400, &[], format!("decrypt: {e}").into_bytes()))
            }
        }
    } else if encrypt {
        return Ok(response(400, &[], b"encryption required".to_vec()));
    } else {
        body
    };
    let parsed = match wsman_soap::parse_request(&plain, &wsman_soap::Limits::default()) {
        Ok(p) => p,
        Err(e) => return Ok(response(400, &[], format!("bad request: {e}").into_bytes())),
    };
    let op = match &parsed.body {
        wsman_soap::RequestBody::Identify => "Identify".to_owned(),
        wsman_soap::RequestBody::Get => "Get".to_owned(),
        wsman_soap::RequestBody::Put(_) => "Put".to_owned(),
        wsman_soap::RequestBody::Enumerate(_) => "Enumerate".to_owned(),
        wsman_soap::RequestBody::Pull { .. } => "Pull".to_owned(),
        wsman_soap::RequestBody::Release { .. } => "Release".to_owned(),
        wsman_soap::RequestBody::Invoke { method, .. } => method.clone(),
        _ => "Other".to_owned(),
    };
    let nth = {
        let mut m = shared.stats.by_op.lock().unwrap();
        let c = m.entry(op).or_insert(0);
        *c += 1;
        *c - 1
    };
    let r = Req {
        action: parsed.header.action.clone(),
        message_id: parsed.header.message_id.clone(),
        parsed,
        nth,
    };
    let reply = (shared.responder)(&r);
    render(&mut conn, reply, encrypt, &r, Vec::new()).await
}

/// Records what the client sent in the stats.
fn record_headers(stats: &Stats, headers: &hyper::HeaderMap) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(a) = get("authorization") {
        stats.auth_headers.lock().unwrap().push(a);
    }
    if let Some(a) = get("accept-encoding") {
        stats.accept_encoding.lock().unwrap().push(a);
    }
    for (name, store) in [("host", &stats.hosts), ("accept", &stats.accepts)] {
        for v in headers.get_all(name) {
            store.lock().unwrap().push(v.to_str().unwrap_or("").to_owned());
        }
    }
    stats
        .header_names
        .lock()
        .unwrap()
        .push(headers.keys().map(|k| k.as_str().to_owned()).collect());
    stats
        .content_types
        .lock()
        .unwrap()
        .push(get("content-type").unwrap_or_default());
}

/// The server's authentication of one request: `Some` is the reply that ends the exchange (a
/// 401, a handshake leg, or the 200 to an empty-body final leg).
fn authenticate(
    shared: &Shared,
    conn: &mut AuthConnection,
    authorization: Option<&str>,
    empty_body: bool,
) -> Option<Resp> {
    match &shared.auth {
        Auth::None => {}
        Auth::Basic => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
            );
            if authorization != Some(want.as_str()) {
                shared.stats.unauthenticated_401.fetch_add(1, Ordering::SeqCst);
                return Some(response(
                    401,
                    &[("www-authenticate", "Basic realm=\"WSMAN\"".to_owned())],
                    Vec::new(),
                ));
            }
        }
        Auth::Gss(_) | Auth::Ntlm { .. } | Auth::Reject => {
            if let Some(value) = authorization {
                let token = value
                    .strip_prefix("Negotiate ")
                    .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t.trim()).ok());
                let Some(token) = token else {
                    return Some(challenge(None));
                };
                let new_acceptor = || -> Box<dyn Acceptor> {
                    let cbt = match &shared.auth {
                        Auth::Gss(server) => return server.new_context(),
                        Auth::Ntlm { cbt, .. } => cbt.clone(),
                        _ => None,
                    };
                    Box::new(ntlm_acceptor(shared.users.clone(), "HV01", "corp.example", cbt))
                };
                match conn.step("Negotiate", &token, new_acceptor) {
                    Leg::Continue(t) => return Some(challenge(Some(&t))),
                    Leg::Done(_) if matches!(shared.auth, Auth::Reject) => {
                        conn.reset();
                        return Some(challenge(None));
                    }
                    Leg::Done(last) => {
                        shared.stats.handshakes.fetch_add(1, Ordering::SeqCst);
                        if empty_body {
                            // Kerberos: the mutual-authentication token.
                            let headers: Vec<_> = last
                                .iter()
                                .map(|t| {
                                    let t = base64::engine::general_purpose::STANDARD.encode(t);
                                    ("www-authenticate", format!("Negotiate {t}"))
                                })
                                .collect();
                            return Some(response(200, &headers, Vec::new()));
                        }
                    }
                    Leg::Refused => return Some(challenge(None)),
                }
            } else if !conn.is_established() {
                shared.stats.unauthenticated_401.fetch_add(1, Ordering::SeqCst);
                return Some(challenge(None));
            }
            if !matches!(shared.auth, Auth::Gss(_)) && shared.unauthorize_next.swap(false, Ordering::SeqCst) {
                conn.reset();
                return Some(challenge(None));
            }
        }
    }
    None
}

fn render<'a>(
    conn: &'a mut AuthConnection,
    reply: Reply,
    encrypt: bool,
    r: &'a Req,
    mut extra: Vec<(&'static str, String)>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Resp, DropConnection>> + Send + 'a>> {
    Box::pin(async move {
        match reply {
            Reply::Close => Err(DropConnection),
            Reply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                render(conn, *inner, encrypt, r, extra).await
            }
            Reply::ThenClose(inner) => {
                extra.push(("connection", "close".to_owned()));
                render(conn, *inner, encrypt, r, extra).await
            }
            Reply::Unauthorized => {
                conn.reset();
                Ok(challenge(None))
            }
            Reply::Redirect(status, location) => {
                extra.push(("location", location));
                Ok(response(status, &extra, Vec::new()))
            }
            Reply::Chunked(size, inner) => {
                let resp = render(conn, *inner, encrypt, r, extra).await?;
                Ok(chunked(resp, size).await)
            }
            Reply::CorruptSeal(inner) => {
                let resp = render(conn, *inner, encrypt, r, extra).await?;
                Ok(corrupt_sealed(resp).await)
            }
            Reply::Oversize(n) => {
                extra.push(("content-type", "application/soap+xml;charset=UTF-8".to_owned()));
                Ok(response(200, &extra, vec![b'x'; n]))
            }
            Reply::Plain(status, xml) => {
                extra.push(("content-type", "application/soap+xml;charset=UTF-8".to_owned()));
                Ok(response(
                    status,
                    &extra,
                    with_relates_to(&xml, &r.message_id).into_bytes(),
                ))
            }
            Reply::Soap(status, xml) => {
                let xml = with_relates_to(&xml, &r.message_id);
                render(conn, Reply::Verbatim(status, xml), encrypt, r, extra).await
            }
            Reply::Verbatim(status, xml) => {
                if encrypt {
                    let (ct, body) = conn.seal(xml.as_bytes()).map_err(|_| DropConnection)?;
                    extra.push(("content-type", ct));
                    Ok(response(status, &extra, body))
                } else {
                    extra.push(("content-type", "application/soap+xml;charset=UTF-8".to_owned()));
                    Ok(response(status, &extra, xml.into_bytes()))
                }
            }
        }
    })
}

/// Items per generated Pull page, and the number of Pull pages.
pub const PAGE_ITEMS: usize = 2;
pub const PULL_PAGES: usize = 3;

fn vm(i: usize) -> wsman_soap::Instance {
    use wsman_soap::{Instance, Scalar};
    Instance::new("Msvm_ComputerSystem")
        .with("ElementName", Scalar::String(format!("vm-{i}")))
        .with(
            "Name",
            Scalar::String(format!("00000000-0000-0000-0000-00000000000{i}")),
        )
}

/// An enumeration page envelope answering `r`.
pub fn page_reply(r: &Req, page: wsman_soap::EnumerationPage) -> Reply {
    let xml = wsman_soap::write_response(
        &wsman_soap::response_action(&r.action),
        "uuid:00000000-0000-0000-0000-000000000001",
        &r.message_id,
        &wsman_soap::ResponseBody::Enumeration(page),
    );
    Reply::Soap(200, xml)
}

/// The default replies: fixtures for Identify, Get, Invoke and Release; an Enumerate with
/// no items followed by PULL_PAGES generated Pull pages of PAGE_ITEMS items each.
pub fn standard(r: &Req) -> Reply {
    use wsman_soap::{EnumerationPage, Item, RequestBody};
    match &r.parsed.body {
        RequestBody::Identify => Reply::Soap(200, fixture("wsman/identify/identify.response.xml")),
        RequestBody::Get | RequestBody::Put(_) => {
            Reply::Soap(200, fixture("wsman/get/replication_setting_data.response.xml"))
        }
        RequestBody::Release { .. } => Reply::Soap(200, fixture("wsman/enumerate/release.response.xml")),
        RequestBody::Invoke { .. } => Reply::Soap(
            200,
            fixture("wsman/invoke/reverse_replication_relationship.response.xml"),
        ),
        RequestBody::Enumerate(_) => page_reply(
            r,
            EnumerationPage {
                context: Some("page-0".to_owned()),
                items: Vec::new(),
                end_of_sequence: false,
            },
        ),
        RequestBody::Pull { context, .. } => {
            let k: usize = context.trim_start_matches("page-").parse().unwrap();
            let items = (0..PAGE_ITEMS)
                .map(|j| Item {
                    instance: Some(vm(k * PAGE_ITEMS + j)),
                    epr: None,
                })
                .collect();
            let last = k + 1 == PULL_PAGES;
            page_reply(
                r,
                EnumerationPage {
                    context: if last {
                        None
                    } else {
                        Some(format!("page-{}", k + 1))
                    },
                    items,
                    end_of_sequence: last,
                },
            )
        }
        _ => Reply::Soap(500, fixture("wsman/fault/schema_validation.response.xml")),
    }
}

/// A self-signed certificate for 127.0.0.1/localhost: (server config, cert PEM, cert DER).
pub fn tls_server() -> (Arc<rustls::ServerConfig>, String, Vec<u8>) {
    tls_server_for(&["127.0.0.1", "localhost"])
}

/// A self-signed certificate for these names.
pub fn tls_server_for(names: &[&str]) -> (Arc<rustls::ServerConfig>, String, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .unwrap();
    let der = ck.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![rustls::pki_types::CertificateDer::from(der.clone())], key)
        .unwrap();
    (Arc::new(cfg), ck.cert.pem(), der)
}

/// An NTLM + encryption server with the standard replies.
pub async fn ntlm_server(responder: Responder) -> Server {
    start(
        Auth::Ntlm {
            encrypt: true,
            cbt: None,
        },
        None,
        responder,
    )
    .await
}

/// A client for `server` with NTLM as USER (retries fast).
pub fn client(server: &Server) -> winrm_client::ClientBuilder {
    winrm_client::Client::builder(&server.endpoint())
        .auth(winrm_client::AuthMethod::ntlm(USER, PASSWORD))
        .retries(2, Duration::from_millis(20))
}

pub fn standard_responder() -> Responder {
    Arc::new(standard)
}

/// A server that answers every request with `302 Found` to `location`: returns the request
/// counter and its endpoint.
pub async fn start_redirecting_server(
    location: &str,
) -> (Arc<AtomicU64>, String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}/wsman", listener.local_addr().unwrap().port());
    let count = Arc::new(AtomicU64::new(0));
    let reply = format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
    let counter = count.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counter = counter.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tcp.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Handshake requests have no body: the head ends the request.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        counter.fetch_add(1, Ordering::SeqCst);
                        if tcp.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (count, endpoint, task)
}

/// `ReverseReplicationRelationship` on the replication service without parameters: the
/// non-idempotent Invoke the suites send (the standard responder answers ReturnValue 4096 and a
/// job).
pub async fn reverse(c: &winrm_client::Client) -> Result<wsman_soap::MethodOutput, winrm_client::Error> {
    c.invoke(
        SERVICE_URI,
        &wsman_soap::SelectorSet::new(),
        "ReverseReplicationRelationship",
        &[],
    )
    .await
}
