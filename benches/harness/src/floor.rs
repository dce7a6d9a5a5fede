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

pub fn client(args: &[String]) -> Result<(), Error> {
    let port: u16 = opt(args, "--port", None)?;
    let n: usize = opt(args, "--n", None)?;
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
