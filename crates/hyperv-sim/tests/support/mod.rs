//! A minimal WinRM client for the loopback tests: raw HTTP/1.1 on one TCP (or TLS) connection,
//! NTLM from `winrm-auth`, message encryption with its framing.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::SystemTime;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use winrm_auth::ntlm::{ClientConfig, Credentials, NtlmClient};
use winrm_auth::{framing, ClientAuth, SessionSecurity, Step};
use wsman_soap::response::{parse_response, Response};
use wsman_soap::Limits;

type Rng = Box<dyn FnMut(&mut [u8]) + Send>;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub struct Client {
    io: Box<dyn Io>,
    host: String,
    pub session: Option<Box<dyn SessionSecurity>>,
}

pub fn filetime_now() -> u64 {
    winrm_auth::ntlm::filetime(SystemTime::now())
}

pub fn ntlm(user: &str, password: &str, cbt: Option<winrm_auth::cbt::ChannelBindings>) -> NtlmClient {
    let config = ClientConfig {
        workstation: "TESTWS".into(),
        target_spn: Some("HTTP/127.0.0.1".into()),
        channel_bindings: cbt,
        require_seal: true,
    };
    let rng: Rng = Box::new(|b: &mut [u8]| rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, b));
    NtlmClient::new(Credentials::parse(user, password), config, rng, filetime_now())
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        Client {
            io: Box::new(s),
            host: addr.to_string(),
            session: None,
        }
    }

    pub fn from_io(io: Box<dyn Io>, host: String) -> Client {
        Client {
            io,
            host,
            session: None,
        }
    }

    /// Sends one request; `Err` when the server closed the connection without answering.
    pub async fn post(&mut self, headers: &[(&str, String)], body: &[u8]) -> Result<HttpResponse, String> {
        let mut req = format!(
            "POST /wsman HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.io.write_all(&bytes).await.map_err(|e| e.to_string())?;
        self.io.flush().await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let n = self.io.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = self.io.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed mid-body".into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// The NTLM handshake on this connection (empty-body POSTs, like pywinrm).
    pub async fn handshake(&mut self, mut auth: NtlmClient, scheme: &str) -> Result<HttpResponse, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let Step::Continue(t1) = auth.step(None).map_err(|e| e.to_string())? else {
            return Err("no negotiate".into());
        };
        let r = self
            .post(&[("Authorization", format!("{scheme} {}", b64.encode(t1)))], b"")
            .await?;
        if r.status != 401 {
            return Err(format!("expected 401 with a challenge, got {}", r.status));
        }
        let www = r.header("WWW-Authenticate").ok_or("no challenge")?;
        let (_, tok) = www.split_once(' ').ok_or("challenge without token")?;
        let t2 = b64.decode(tok).map_err(|e| e.to_string())?;
        let t3 = match auth.step(Some(&t2)).map_err(|e| e.to_string())? {
            Step::Done(Some(t)) | Step::Continue(t) => t,
            Step::Done(None) => return Err("no authenticate token".into()),
        };
        let r = self
            .post(&[("Authorization", format!("{scheme} {}", b64.encode(t3)))], b"")
            .await?;
        if r.status == 200 {
            auth.finish(None).map_err(|e| e.to_string())?;
            self.session = Box::new(auth).into_session();
        }
        Ok(r)
    }

    /// Sends a sealed SOAP body; returns the HTTP response with the body unsealed when it was
    /// sealed.
    pub async fn soap_raw(&mut self, xml: &str) -> Result<(HttpResponse, Result<Vec<u8>, String>), String> {
        let sec = self.session.as_mut().ok_or("no session")?;
        let (ct, body) = framing::encode(sec.as_mut(), xml.as_bytes()).map_err(|e| e.to_string())?;
        let r = self.post(&[("Content-Type", ct)], &body).await?;
        let ct = r.header("Content-Type").unwrap_or("").to_owned();
        let plain = if framing::is_encrypted(&ct) {
            let sec = self.session.as_mut().ok_or("no session")?;
            framing::decode(sec.as_mut(), &ct, &r.body).map_err(|e| e.to_string())
        } else {
            Err(format!("reply not encrypted (content-type {ct:?})"))
        };
        Ok((r, plain))
    }

    /// Sealed request, sealed reply, parsed.
    pub async fn soap(&mut self, xml: &str) -> Response {
        let (r, plain) = self.soap_raw(xml).await.unwrap();
        let plain = plain.unwrap_or_else(|e| panic!("status {}: {e}", r.status));
        parse_response(&plain, &Limits::default()).unwrap()
    }
}
