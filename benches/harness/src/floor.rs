//! The per-request floor: what one HTTP/1.1 exchange of the benchmark's sizes costs a client
//! that does nothing but blocking `write` and `read` on a keep-alive loopback connection (no
//! HTTP library, no crypto, no XML). No client can do a request for less CPU than this on the
//! same machine, so `pywinrm / floor` bounds the ratio any client can reach.
//!
//! * `hvbench floor-serve`: answers every request on 127.0.0.1 with canned replies of the sizes
//!   the simulator sends (3408 bytes for the Get, 1621 for the Invoke, alternating). Prints one
//!   JSON line with its port; exits when its standard input closes.
//! * `hvbench floor-client --port P --n N`: N pairs of requests of the sizes winrm-client sends
//!   (1688 and 2418 bytes, headers included), each reply read to its end by Content-Length.
//! * `hvbench floor-client --port P --n N --via reqwest|hyper`: the same bodies (1423 and 2153
//!   bytes) POSTed through a bare `reqwest::Client` (HTTP/1.1, one keep-alive connection) or a
//!   bare `hyper::client::conn::http1` connection, each on a current-thread tokio runtime like
//!   `hvbench client`, and each reply body collected. This is what the HTTP layer alone costs,
//!   before any sealing or XML.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use serde_json::json;

use crate::{opt, Error};

/// Request sizes on the wire (HTTP headers + sealed body), measured with strace on
/// `hvbench client`: the Get, then the Invoke.
const REQUEST_BYTES: [usize; 2] = [1688, 2418];
/// Reply sizes on the wire of the simulator's Get and Invoke replies.
const REPLY_BYTES: [usize; 2] = [3408, 1621];

/// An HTTP/1.1 message of exactly `total` bytes with a `Content-Length` body of filler.
fn message(start_line: &str, total: usize) -> Vec<u8> {
    let head_without_len = format!("{start_line}\r\nContent-Type: multipart/encrypted\r\nContent-Length: ");
    // The body length has 4 digits for every size used here.
    let body_len = total - head_without_len.len() - 4 - 4;
    let mut m = format!("{head_without_len}{body_len:04}\r\n\r\n").into_bytes();
    m.resize(total, b'x');
    m
}

/// Reads one HTTP message (headers and a Content-Length body) into `buf`; false at EOF.
fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool, Error> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let mut need: Option<usize> = None;
    loop {
        if let Some(n) = need {
            if buf.len() >= n {
                return Ok(true);
            }
        }
        let got = s.read(&mut chunk)?;
        if got == 0 {
            return if buf.is_empty() {
                Ok(false)
            } else {
                Err("connection closed mid-message".into())
            };
        }
        buf.extend_from_slice(&chunk[..got]);
        if need.is_none() {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end])?.to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .ok_or("no content-length")?
                    .trim()
                    .parse()?;
                need = Some(end + 4 + len);
            }
        }
    }
}

pub fn serve() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", json!({ "port": listener.local_addr()?.port() }));
    std::thread::spawn(|| {
        // Stop when the runner closes our standard input.
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let replies = REPLY_BYTES.map(|n| message("HTTP/1.1 200 OK", n));
    for conn in listener.incoming() {
        let mut s = conn?;
        s.set_nodelay(true)?;
        let replies = replies.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut i = 0usize;
            while let Ok(true) = read_message(&mut s, &mut buf) {
                if s.write_all(&replies[i % 2]).is_err() {
                    break;
                }
                i += 1;
            }
        });
    }
    Ok(())
}

/// Sealed body sizes of the Get and the Invoke request (the wire sizes minus the HTTP headers).
const BODY_BYTES: [usize; 2] = [1423, 2153];

pub fn client(args: &[String]) -> Result<(), Error> {
    let port: u16 = opt(args, "--port", None)?;
    let n: usize = opt(args, "--n", None)?;
    match opt::<String>(args, "--via", Some("socket".into()))?.as_str() {
        "socket" => socket_client(port, n),
        via @ ("reqwest" | "hyper") => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let wall = if via == "reqwest" {
                rt.block_on(reqwest_client(port, n))?
            } else {
                rt.block_on(hyper_client(port, n))?
            };
            println!(
                "{}",
                json!({ "n": n, "requests": 2 * n, "wall_s": wall, "via": via })
            );
            Ok(())
        }
        other => Err(format!("unknown --via {other} (socket, reqwest or hyper)").into()),
    }
}

fn check_reply(i: usize, body_len: usize, total: usize) -> Result<(), Error> {
    // The canned reply's headers are the start line, Content-Type and Content-Length.
    if body_len == 0 || body_len >= total {
        return Err(format!("reply {i}: body of {body_len} bytes for a {total}-byte message").into());
    }
    Ok(())
}

async fn reqwest_client(port: u16, n: usize) -> Result<f64, Error> {
    // reqwest is built with `rustls-no-provider` (winrm-client picks ring); it wants a provider
    // even for plain HTTP. Err means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().http1_only().build()?;
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/wsman"))?;
    let bodies = BODY_BYTES.map(bytes_of);
    let start = Instant::now();
    for i in 0..2 * n {
        let resp = client
            .post(url.clone())
            .header("Content-Type", "multipart/encrypted")
            .body(bodies[i % 2].clone())
            .send()
            .await?;
        let body = resp.bytes().await?;
        check_reply(i, body.len(), REPLY_BYTES[i % 2])?;
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn hyper_client(port: u16, n: usize) -> Result<f64, Error> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<std::io::Cursor<Vec<u8>>>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(conn);
    let bodies = BODY_BYTES.map(bytes_of);
    let start = Instant::now();
    for i in 0..2 * n {
        let req = hyper::Request::post("/wsman")
            .header("Host", format!("127.0.0.1:{port}"))
            .header("Content-Type", "multipart/encrypted")
            .body(Full::new(std::io::Cursor::new(bodies[i % 2].clone())))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        check_reply(i, body.len(), REPLY_BYTES[i % 2])?;
    }
    Ok(start.elapsed().as_secs_f64())
}

fn bytes_of(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

fn socket_client(port: u16, n: usize) -> Result<(), Error> {
    let requests = REQUEST_BYTES.map(|n| message("POST /wsman HTTP/1.1", n));
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let start = Instant::now();
    for i in 0..2 * n {
        s.write_all(&requests[i % 2])?;
        if !read_message(&mut s, &mut buf)? {
            return Err("server closed the connection".into());
        }
        if buf.len() != REPLY_BYTES[i % 2] {
            return Err(format!("reply of {} bytes, expected {}", buf.len(), REPLY_BYTES[i % 2]).into());
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!("{}", json!({ "n": n, "requests": 2 * n, "wall_s": wall }));
    Ok(())
}
