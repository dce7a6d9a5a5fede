//! WinRM message encryption framing ([MS-WSMV 2.2.9.1] Encrypted Message Types).
//!
//! A sealed SOAP body travels as a two-part MIME-like body:
//!
//! ```text
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//! \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext length>\r\n
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/octet-stream\r\n
//! <u32 LE header length><security header><sealed bytes>--Encrypted Boundary--\r\n
//! ```
//!
//! There is no CRLF between the sealed bytes and the next delimiter. [`encode`] writes exactly
//! this; [`decode`] also accepts part headers without the TAB, the `-- Encrypted Boundary`
//! spelling (Exchange, openwsman), several parts one after the other (concatenated), with or
//! without a terminator after each, and a missing final `--`.

use crate::{Error, SessionSecurity};

/// The MIME boundary every WinRM implementation uses.
pub const BOUNDARY: &str = "Encrypted Boundary";

/// The `Content-Type` header value for a body sealed with `protocol`, e.g.
/// `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`.
pub fn content_type(protocol: &str) -> String {
    const HEAD: &str = "multipart/encrypted;protocol=\"";
    const TAIL: &str = "\";boundary=\"Encrypted Boundary\"";
    let mut ct = String::with_capacity(HEAD.len() + protocol.len() + TAIL.len());
    ct.push_str(HEAD);
    ct.push_str(protocol);
    ct.push_str(TAIL);
    ct
}

/// Whether a response `Content-Type` announces an encrypted body (`multipart/encrypted` or
/// `multipart/x-multi-encrypted`). A plain `application/soap+xml` reply is not encrypted.
pub fn is_encrypted(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("multipart/encrypted")
        || media.eq_ignore_ascii_case("multipart/x-multi-encrypted")
}

/// `--Encrypted Boundary\r\n\tContent-Type: ` (the constant text before the protocol).
const PART1_HEAD: &[u8] = b"--Encrypted Boundary\r\n\tContent-Type: ";
/// The text between the protocol and the `Length` value.
const PART1_LENGTH: &[u8] = b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=";
/// The text after the `Length` value, up to the 4-byte header length.
const PART2_HEAD: &[u8] = b"\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n";
/// The terminator after the sealed bytes.
const TERMINATOR: &[u8] = b"--Encrypted Boundary--\r\n";

/// Appends the decimal digits of `n`.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Seals and frames a SOAP body; returns (Content-Type header value, body bytes).
pub fn encode(sec: &mut dyn SessionSecurity, soap: &[u8]) -> Result<(String, Vec<u8>), Error> {
    let mut body = Vec::new();
    encode_into(sec, soap, &mut body)?;
    Ok((content_type(sec.protocol()), body))
}

/// Seals and frames a SOAP body, appending the framed bytes to `body` (the same bytes as
/// [`encode`]; the `Content-Type` is [`content_type`]`(sec.protocol())`). Mechanisms that
/// seal in place (NTLM) are sealed directly in `body`, without intermediate buffers. On an
/// error `body` is left as it was.
pub fn encode_into(sec: &mut dyn SessionSecurity, soap: &[u8], body: &mut Vec<u8>) -> Result<(), Error> {
    let start = body.len();
    let result = match sec.in_place_header_len() {
        Some(header_len) => encode_in_place(sec, soap, header_len, body),
        None => encode_wrapped(sec, soap, body),
    };
    if result.is_err() {
        body.truncate(start);
    }
    result
}

/// The framing text of a part, up to and including the 4-byte header length.
fn push_part_head(body: &mut Vec<u8>, protocol: &str, length: usize, header_len: usize) -> Result<(), Error> {
    let header_len =
        u32::try_from(header_len).map_err(|_| Error::Framing("security header too large".into()))?;
    body.extend_from_slice(PART1_HEAD);
    body.extend_from_slice(protocol.as_bytes());
    body.extend_from_slice(PART1_LENGTH);
    push_decimal(body, length);
    body.extend_from_slice(PART2_HEAD);
    body.extend_from_slice(&header_len.to_le_bytes());
    Ok(())
}

/// The framing without the data and security header.
fn overhead(protocol: &str) -> usize {
    PART1_HEAD.len() + protocol.len() + PART1_LENGTH.len() + 20 + PART2_HEAD.len() + 4 + TERMINATOR.len()
}

fn encode_in_place(
    sec: &mut dyn SessionSecurity,
    soap: &[u8],
    header_len: usize,
    body: &mut Vec<u8>,
) -> Result<(), Error> {
    let protocol = sec.protocol();
    body.reserve(overhead(protocol) + header_len + soap.len());
    push_part_head(body, protocol, soap.len(), header_len)?;
    let header_at = body.len();
    body.resize(header_at + header_len, 0);
    body.extend_from_slice(soap);
    let (header, data) = body[header_at..].split_at_mut(header_len);
    sec.wrap_in_place(header, data)?;
    body.extend_from_slice(TERMINATOR);
    Ok(())
}

fn encode_wrapped(sec: &mut dyn SessionSecurity, soap: &[u8], body: &mut Vec<u8>) -> Result<(), Error> {
    let protocol = sec.protocol();
    let wrapped = sec.wrap(soap)?;
    body.reserve(overhead(protocol) + wrapped.header.len() + wrapped.data.len());
    push_part_head(body, protocol, soap.len() + wrapped.padding, wrapped.header.len())?;
    body.extend_from_slice(&wrapped.header);
    body.extend_from_slice(&wrapped.data);
    body.extend_from_slice(TERMINATOR);
    Ok(())
}

/// Parses, unseals and concatenates every part; checks each part's `Length`. Tolerant of
/// missing TABs and `-- Encrypted Boundary`. A body whose `content_type` is not encrypted is
/// an error (check [`is_encrypted`] first to accept plain replies).
pub fn decode(sec: &mut dyn SessionSecurity, content_type: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode_into(sec, content_type, body, &mut out)?;
    Ok(out)
}

/// [`decode`], appending the plaintext to `out`: each part is unsealed straight into `out`
/// (in place for NTLM), without per-part buffers. On an error `out` is left as it was, so no
/// byte that failed verification is ever handed out.
pub fn decode_into(
    sec: &mut dyn SessionSecurity,
    content_type: &str,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let parts = parse(content_type, body)?;
    let start = out.len();
    // The sealed sizes bound the plaintext (the announced Length is not trusted for this).
    out.reserve(parts.iter().map(|p| p.data.len()).sum());
    for part in &parts {
        let at = out.len();
        let result = sec.unwrap_into(part.header, part.data, out).and_then(|()| {
            let plain_len = out.len() - at;
            // NTLM and AES Kerberos: the plaintext is exactly Length bytes. RC4 Kerberos:
            // Length counts the padding that travels in the data and that unwrap strips.
            let ok = plain_len == part.length || (part.data.len() == part.length && plain_len < part.length);
            if ok {
                Ok(())
            } else {
                Err(Error::Framing(format!(
                    "decrypted length {plain_len} does not match the announced length {}",
                    part.length
                )))
            }
        });
        if let Err(e) = result {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// One encrypted part of a `multipart/encrypted` body, before unsealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedPart<'a> {
    /// The `Content-Type` of the first part: the protocol string.
    pub protocol: &'a str,
    /// `OriginalContent` `Length`: plaintext length (plus padding).
    pub length: usize,
    /// The security header (NTLM signature or Kerberos token header).
    pub header: &'a [u8],
    /// The sealed bytes.
    pub data: &'a [u8],
}

/// Splits a `multipart/encrypted` body into its encrypted parts without unsealing them.
pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<EncryptedPart<'a>>, Error> {
    if !is_encrypted(content_type) {
        return Err(Error::Framing(format!(
            "not an encrypted body: {}",
            truncate(content_type)
        )));
    }
    let mut parts = Vec::new();
    let mut pos = match next_delimiter(body, 0) {
        Some((at, len)) if body[..at].iter().all(u8::is_ascii_whitespace) => at + len,
        _ => return Err(Error::Framing("no opening boundary".into())),
    };
    loop {
        // `pos` is just past a delimiter ("--Encrypted Boundary"). A terminator ends the body.
        if body[pos..].starts_with(b"--") {
            break;
        }
        // First part: header lines until the next delimiter.
        let (at, dlen) =
            next_delimiter(body, pos).ok_or_else(|| Error::Framing("missing second boundary".into()))?;
        let headers = std::str::from_utf8(&body[pos..at])
            .map_err(|_| Error::Framing("part headers are not text".into()))?;
        let (protocol, original) = part_headers(headers);
        let protocol = protocol.unwrap_or("");
        let original = original.ok_or_else(|| Error::Framing("missing OriginalContent".into()))?;
        let length = original
            .split(';')
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("length").then(|| v.trim())
            })
            .ok_or_else(|| Error::Framing("missing Length".into()))?;
        let length: usize = length
            .parse()
            .map_err(|_| Error::Framing(format!("invalid Length {}", truncate(length))))?;
        // Second part: one header line, then the binary payload up to the next delimiter.
        let mut p = at + dlen;
        p = skip_line_end(body, p);
        let line_end =
            find(body, b"\r\n", p).ok_or_else(|| Error::Framing("truncated octet-stream part".into()))?;
        let line = String::from_utf8_lossy(&body[p..line_end]);
        let named = line
            .trim_start()
            .get(..13)
            .is_some_and(|n| n.eq_ignore_ascii_case("content-type:"));
        if !named {
            return Err(Error::Framing("octet-stream part has no Content-Type".into()));
        }
        p = line_end + 2;
        let len_bytes: [u8; 4] = body
            .get(p..p + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Framing("truncated header length".into()))?;
        let header_len = usize::try_from(u32::from_le_bytes(len_bytes))
            .map_err(|_| Error::Framing("header length too large".into()))?;
        p += 4;
        let header_end = p
            .checked_add(header_len)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| Error::Framing("header length past the end of the body".into()))?;
        let header = &body[p..header_end];
        // The data ends at the next delimiter; prefer the one exactly `length` bytes on.
        let exact = header_end
            .checked_add(length)
            .filter(|&e| e <= body.len())
            .and_then(|e| delimiter_at(body, e).map(|l| (e, l)));
        let (data_end, dlen) = match exact {
            Some(found) => found,
            None => next_delimiter(body, header_end)
                .ok_or_else(|| Error::Framing("missing closing boundary".into()))?,
        };
        parts.push(EncryptedPart {
            protocol,
            length,
            header,
            data: &body[header_end..data_end],
        });
        pos = data_end + dlen;
        if body[pos..].starts_with(b"--") {
            // Terminator; PSWSMan writes one after every chunk, so look for another part.
            let after = skip_line_end(body, pos + 2);
            match next_delimiter(body, after) {
                Some((at, len)) if body[after..at].iter().all(u8::is_ascii_whitespace) => pos = at + len,
                _ => break,
            }
        } else {
            pos = skip_line_end(body, pos);
            if pos >= body.len() {
                break; // "--Encrypted Boundary\r\n" at the end, without the final "--"
            }
            // `pos` must be at the next part's headers: step back to "just past a delimiter".
        }
    }
    if parts.is_empty() {
        return Err(Error::Framing("no encrypted part".into()));
    }
    Ok(parts)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (first, rest) = needle.split_first()?;
    let mut i = from;
    while let Some(p) = hay.get(i..)?.iter().position(|b| b == first) {
        let at = i + p;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// A delimiter (`--Encrypted Boundary` or `-- Encrypted Boundary`) exactly at `at`: its length.
fn delimiter_at(body: &[u8], at: usize) -> Option<usize> {
    let rest = body.get(at..)?;
    let rest = rest.strip_prefix(b"--")?;
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    rest[spaces..]
        .starts_with(BOUNDARY.as_bytes())
        .then_some(2 + spaces + BOUNDARY.len())
}

/// The next delimiter at or after `from`: (position, length).
fn next_delimiter(body: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(at) = find(body, b"--", i) {
        if let Some(len) = delimiter_at(body, at) {
            return Some((at, len));
        }
        i = at + 1;
    }
    None
}

fn skip_line_end(body: &[u8], mut p: usize) -> usize {
    while matches!(body.get(p), Some(b'\r' | b'\n')) {
        p += 1;
    }
    p
}

/// The values of the `Content-Type` and `OriginalContent` headers (the first of each) in a
/// block of `Name: value` lines (leading TABs or spaces optional, names case-insensitive).
fn part_headers(headers: &str) -> (Option<&str>, Option<&str>) {
    let mut content_type = None;
    let mut original = None;
    for line in headers.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let k = k.trim();
        if content_type.is_none() && k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim());
        } else if original.is_none() && k.eq_ignore_ascii_case("originalcontent") {
            original = Some(v.trim());
        }
        if content_type.is_some() && original.is_some() {
            break;
        }
    }
    (content_type, original)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::Wrapped;

    /// A stand-in security layer: "seals" with base64 and signs with "1234", like the fake
    /// session in pywinrm's `test_encryption.py`.
    struct Base64Sec;

    impl SessionSecurity for Base64Sec {
        fn protocol(&self) -> &'static str {
            "application/HTTP-SPNEGO-session-encrypted"
        }
        fn wrap(&mut self, plaintext: &[u8]) -> Result<Wrapped, Error> {
            let data = base64::engine::general_purpose::STANDARD
                .encode(plaintext)
                .into_bytes();
            Ok(Wrapped {
                header: b"1234".to_vec(),
                data,
                padding: 0,
            })
        }
        fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
            if header != b"1234" {
                return Err(Error::BadSignature("test"));
            }
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| Error::Framing(e.to_string()))
        }
    }

    const PYWINRM_BODY: &[u8] = b"--Encrypted Boundary\r\n\
        \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\
        \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=19\r\n\
        --Encrypted Boundary\r\n\
        \tContent-Type: application/octet-stream\r\n\
        \x04\x00\x00\x001234dW5lbmNyeXB0ZWQgbWVzc2FnZQ==--Encrypted Boundary--\r\n";

    #[test]
    fn encode_matches_pywinrm_test_encrypt_message_bytes() {
        let (ct, body) = encode(&mut Base64Sec, b"unencrypted message").unwrap();
        assert_eq!(
            ct,
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\""
        );
        assert_eq!(body, PYWINRM_BODY);
        assert_eq!(body.len(), 272); // pywinrm asserts Content-Length 272
    }

    #[test]
    fn decode_round_trip_and_terminator_variants() {
        let ct = content_type("application/HTTP-SPNEGO-session-encrypted");
        assert_eq!(
            decode(&mut Base64Sec, &ct, PYWINRM_BODY).unwrap(),
            b"unencrypted message"
        );
        // pywinrm test_decrypt_message: ends with a plain delimiter instead of the terminator.
        let open_end = [&PYWINRM_BODY[..PYWINRM_BODY.len() - 4], b"\r\n"].concat();
        assert!(open_end.ends_with(b"--Encrypted Boundary\r\n"));
        assert_eq!(
            decode(&mut Base64Sec, &ct, &open_end).unwrap(),
            b"unencrypted message"
        );
    }

    #[test]
    fn decode_without_tabs_and_with_spaced_boundary() {
        let body = b"-- Encrypted Boundary\r\n\
            Content-Type: application/HTTP-SPNEGO-session-encrypted\r\n\
            OriginalContent: type=application/soap+xml;charset=UTF-8;Length=19\r\n\
            -- Encrypted Boundary\r\n\
            Content-Type: application/octet-stream\r\n\
            \x04\x00\x00\x001234dW5lbmNyeXB0ZWQgbWVzc2FnZQ==-- Encrypted Boundary--\r\n";
        let ct = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";
        assert_eq!(decode(&mut Base64Sec, ct, body).unwrap(), b"unencrypted message");
    }

    #[test]
    fn multiple_parts_are_concatenated_with_or_without_terminators_between() {
        let part = |text: &[u8], terminator: bool| {
            let (_, mut b) = encode(&mut Base64Sec, text).unwrap();
            if !terminator {
                b.truncate(b.len() - "--Encrypted Boundary--\r\n".len());
            }
            b
        };
        let ct = "multipart/x-multi-encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\";boundary=\"Encrypted Boundary\"";
        // pywinrm/pypsrp: one terminator at the very end.
        let body = [part(b"first ", false), part(b"second", true)].concat();
        assert_eq!(decode(&mut Base64Sec, ct, &body).unwrap(), b"first second");
        // PSWSMan: a terminator after every chunk.
        let body = [part(b"first ", true), part(b"second", true)].concat();
        assert_eq!(decode(&mut Base64Sec, ct, &body).unwrap(), b"first second");
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let body = String::from_utf8_lossy(PYWINRM_BODY).replace("Length=19", "Length=18");
        let ct = content_type("application/HTTP-SPNEGO-session-encrypted");
        let err = decode(&mut Base64Sec, &ct, body.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("does not match the announced length 18"),
            "{err}"
        );
    }

    #[test]
    fn plain_replies_are_detected() {
        assert!(!is_encrypted("application/soap+xml;charset=UTF-8"));
        assert!(is_encrypted(&content_type(
            "application/HTTP-Kerberos-session-encrypted"
        )));
        assert!(is_encrypted("Multipart/Encrypted; protocol=x"));
        let err = decode(&mut Base64Sec, "application/soap+xml", b"<s:Envelope/>").unwrap_err();
        assert!(matches!(err, Error::Framing(_)), "{err}");
    }

    #[test]
    fn kerberos_protocol_string_is_passed_through() {
        struct Krb;
        impl SessionSecurity for Krb {
            fn protocol(&self) -> &'static str {
                "application/HTTP-Kerberos-session-encrypted"
            }
            fn wrap(&mut self, p: &[u8]) -> Result<Wrapped, Error> {
                let mut data = p.to_vec();
                data.push(1); // one byte of padding, as with RC4 Kerberos
                Ok(Wrapped {
                    header: vec![9; 60],
                    data,
                    padding: 1,
                })
            }
            fn unwrap(&mut self, _h: &[u8], d: &[u8]) -> Result<Vec<u8>, Error> {
                Ok(d[..d.len() - 1].to_vec())
            }
        }
        let (ct, body) = encode(&mut Krb, b"<x/>").unwrap();
        assert!(ct.contains("protocol=\"application/HTTP-Kerberos-session-encrypted\""));
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"));
        assert!(text.contains("Length=5\r\n"));
        assert_eq!(&body[body.len() - 24 - 5 - 60 - 4..][..4], &60u32.to_le_bytes());
        assert_eq!(decode(&mut Krb, &ct, &body).unwrap(), b"<x/>");
    }

    #[test]
    fn framing_constants_spell_the_boundary() {
        let b = BOUNDARY.as_bytes();
        assert_eq!(&PART1_HEAD[2..2 + b.len()], b);
        assert_eq!(&PART2_HEAD[4..4 + b.len()], b);
        assert_eq!(&TERMINATOR[2..2 + b.len()], b);
        assert!(content_type("p").ends_with(&format!(";boundary=\"{BOUNDARY}\"")));
        for n in [0usize, 7, 10, 19, 65_536, usize::MAX] {
            let mut v = Vec::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }

    #[test]
    fn encode_into_and_decode_into_with_wrap_based_mechanisms() {
        // Base64Sec has no in-place sealing: the wrap path, appended after existing bytes.
        assert_eq!(Base64Sec.in_place_header_len(), None);
        let mut buf = b"already here".to_vec();
        encode_into(&mut Base64Sec, b"unencrypted message", &mut buf).unwrap();
        assert_eq!(&buf[..12], b"already here");
        assert_eq!(&buf[12..], PYWINRM_BODY);
        let ct = content_type("application/HTTP-SPNEGO-session-encrypted");
        let mut out = b">".to_vec();
        decode_into(&mut Base64Sec, &ct, PYWINRM_BODY, &mut out).unwrap();
        assert_eq!(out, b">unencrypted message");
        // A bad header: the error leaves the output as it was.
        let mut bad = PYWINRM_BODY.to_vec();
        let at = bad.windows(4).position(|w| w == b"1234").unwrap();
        bad[at..at + 4].copy_from_slice(b"4321");
        let err = decode_into(&mut Base64Sec, &ct, &bad, &mut out).unwrap_err();
        assert!(matches!(err, Error::BadSignature(_)), "{err}");
        assert_eq!(out, b">unencrypted message");
        // The trait defaults: in place through wrap (same length), unwrap_into through unwrap.
        struct Xor;
        impl SessionSecurity for Xor {
            fn protocol(&self) -> &'static str {
                "x"
            }
            fn wrap(&mut self, p: &[u8]) -> Result<Wrapped, Error> {
                Ok(Wrapped {
                    header: b"hd".to_vec(),
                    data: p.iter().map(|b| b ^ 0x20).collect(),
                    padding: 0,
                })
            }
            fn unwrap(&mut self, h: &[u8], d: &[u8]) -> Result<Vec<u8>, Error> {
                if h != b"hd" {
                    return Err(Error::BadSignature("test"));
                }
                Ok(d.iter().map(|b| b ^ 0x20).collect())
            }
        }
        let mut header = [0u8; 2];
        let mut data = b"abc".to_vec();
        Xor.wrap_in_place(&mut header, &mut data).unwrap();
        assert_eq!((&header[..], &data[..]), (&b"hd"[..], &b"ABC"[..]));
        let err = Xor.wrap_in_place(&mut [0u8; 3], &mut data).unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err}");
        let mut out = b"<".to_vec();
        Xor.unwrap_into(b"hd", b"ABC", &mut out).unwrap();
        assert_eq!(out, b"<abc");
        assert!(Xor.unwrap_into(b"xx", b"ABC", &mut out).is_err());
        assert_eq!(out, b"<abc");
    }

    /// The header lookup and substring search as they were before the single-pass versions.
    fn old_header_value<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
        headers.lines().find_map(|line| {
            let (k, v) = line.trim().split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn old_find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        if from > hay.len() {
            return None;
        }
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    }

    #[test]
    fn single_pass_header_lookup_agrees_with_the_per_name_lookup() {
        let blocks = [
            "\tContent-Type: a\r\n\tOriginalContent: b;Length=1\r\n",
            "originalcontent:x\ncontent-type:y\n",
            "Content-Type: first\r\nContent-Type: second\r\nOriginalContent: o\r\n",
            "garbage\r\n: empty name\r\n CONTENT-TYPE :  spaced  \r\n",
            "OriginalContent: only\r\n",
            "",
            "\u{b}Content-Type:\u{c}vt ff\u{c}\r\r\nOriginalContent: x\n\n",
            "\u{a0}Content-Type: nbsp\r\n\u{3000}OriginalContent:\u{3000}ideo\u{3000}\r\n",
        ];
        for b in blocks {
            assert_eq!(
                part_headers(b),
                (
                    old_header_value(b, "content-type"),
                    old_header_value(b, "originalcontent")
                ),
                "{b:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn header_lookup_and_find_agree_with_the_old_versions(
            b in "[ \t\r\n\u{b}\u{c}\u{85}a-zA-Z:;=\u{a0}-]{0,80}",
            hay in proptest::collection::vec(proptest::prop_oneof![proptest::prelude::Just(b'-'), proptest::prelude::Just(b'E'), proptest::prelude::Just(b'\r'), proptest::prelude::Just(b'\n')], 0..40),
            from in 0usize..45,
        ) {
            proptest::prop_assert_eq!(
                part_headers(&b),
                (old_header_value(&b, "content-type"), old_header_value(&b, "originalcontent"))
            );
            for needle in [&b"--"[..], b"\r\n", b"-"] {
                proptest::prop_assert_eq!(find(&hay, needle, from), old_find(&hay, needle, from));
            }
        }
    }

    #[test]
    fn truncated_bodies_are_errors() {
        let ct = content_type("application/HTTP-SPNEGO-session-encrypted");
        for cut in 0..PYWINRM_BODY.len() - 24 {
            let r = decode(&mut Base64Sec, &ct, &PYWINRM_BODY[..cut]);
            assert!(r.is_err(), "cut at {cut} decoded");
        }
    }
}
