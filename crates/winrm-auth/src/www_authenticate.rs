//! `WWW-Authenticate` header parsing ([RFC 7235 §4.1], [RFC 4559 §4] for `Negotiate`).
//!
//! A header value holds one or more challenges separated by commas; a challenge is a scheme
//! followed by either a `token68` (the base64 security token for `Negotiate`, `NTLM`,
//! `Kerberos`) or comma-separated `name=value` parameters (values may be quoted strings).
//! Servers put several challenges in one header or send several headers; both are accepted.
//! Junk never panics: unparseable pieces are skipped.

use base64::Engine as _;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as the server spelled it (`Negotiate`, `NTLM`, `Kerberos`, `Basic`, ...).
    pub scheme: String,
    /// The decoded `token68`, if the challenge carried one that is valid base64.
    pub token: Option<Vec<u8>>,
    /// The `name=value` parameters (names lower-cased, quoted values unescaped), e.g. Basic's
    /// `realm`.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether this challenge is for `scheme` (compared case-insensitively).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The first challenge for `scheme` (case-insensitive) in `challenges`.
pub fn find<'a>(challenges: &'a [Challenge], scheme: &str) -> Option<&'a Challenge> {
    challenges.iter().find(|c| c.is(scheme))
}

/// Parses one or more `WWW-Authenticate` header values (several schemes, quoted params,
/// base64 tokens).
pub fn parse(values: &[&str]) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        parse_value(value.as_bytes(), &mut out);
    }
    out
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// Skips to just past the next comma (or the end): used to resynchronise after junk.
    fn skip_element(&mut self) {
        while let Some(b) = self.peek() {
            self.i += 1;
            if b == b',' {
                break;
            }
        }
    }
    fn quoted_string(&mut self) -> String {
        // At the opening quote.
        self.i += 1;
        let mut v = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.i += 1;
                    }
                }
                _ => v.push(b),
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

fn parse_value(s: &[u8], out: &mut Vec<Challenge>) {
    let mut c = Cursor { s, i: 0 };
    loop {
        c.skip_ws_and_commas();
        if c.peek().is_none() {
            return;
        }
        let scheme = c.take_while(is_tchar);
        if scheme.is_empty() {
            c.skip_element();
            continue;
        }
        let mut challenge = Challenge {
            scheme: String::from_utf8_lossy(scheme).into_owned(),
            token: None,
            params: Vec::new(),
        };
        c.skip_ws();
        // A token68 is token68 chars and '=' padding, then the end or a comma.
        let save = c.i;
        let body = c.take_while(is_token68_char);
        if !body.is_empty() {
            c.take_while(|b| b == b'=');
            let token_end = c.i;
            c.skip_ws();
            if matches!(c.peek(), None | Some(b',')) {
                challenge.token = decode_token(&s[save..token_end]);
                out.push(challenge);
                continue;
            }
            c.i = save;
        }
        // Otherwise: zero or more auth-params.
        loop {
            c.skip_ws_and_commas();
            let save = c.i;
            let name = c.take_while(is_tchar);
            if name.is_empty() {
                if c.peek().is_some() {
                    c.skip_element();
                    continue;
                }
                break;
            }
            c.skip_ws();
            if c.peek() != Some(b'=') {
                // Not a parameter: the next challenge's scheme.
                c.i = save;
                break;
            }
            c.i += 1;
            c.skip_ws();
            let value = if c.peek() == Some(b'"') {
                c.quoted_string()
            } else {
                String::from_utf8_lossy(c.take_while(|b| b != b',' && b != b' ' && b != b'\t')).into_owned()
            };
            challenge
                .params
                .push((String::from_utf8_lossy(name).to_ascii_lowercase(), value));
        }
        out.push(challenge);
    }
}

fn decode_token(token: &[u8]) -> Option<Vec<u8>> {
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_schemes_in_one_header_and_several_headers() {
        let c = parse(&["Negotiate, NTLM", "Basic realm=\"WSMAN\", Kerberos"]);
        let schemes: Vec<_> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Negotiate", "NTLM", "Basic", "Kerberos"]);
        assert_eq!(c[2].param("realm"), Some("WSMAN"));
        assert!(c.iter().all(|c| c.token.is_none()));
    }

    #[test]
    fn base64_token_is_decoded() {
        let c = parse(&["Negotiate TlRMTVNTUAACAAAA"]);
        assert_eq!(c.len(), 1);
        assert!(c[0].is("negotiate"));
        assert_eq!(c[0].token.as_deref(), Some(&b"NTLMSSP\0\x02\0\0\0"[..]));
        let c = parse(&["NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="]);
        assert_eq!(c[0].token.as_ref().map(|t| &t[..8]), Some(&b"NTLMSSP\0"[..]));
        assert_eq!(c[0].token.as_ref().map(Vec::len), Some(40));
    }

    #[test]
    fn token_followed_by_other_challenges() {
        let c = parse(&["Negotiate YIIBAQ==, Basic realm=\"a, b\", charset=\"UTF-8\""]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].token.as_deref(), Some(&[0x60, 0x82, 0x01, 0x01][..]));
        assert_eq!(
            c[1].params,
            [
                ("realm".into(), "a, b".into()),
                ("charset".into(), "UTF-8".into())
            ]
        );
    }

    #[test]
    fn quoted_escapes_and_unquoted_values() {
        let c = parse(&[r#"Digest realm="x\"y", nonce=abc, qop="auth""#]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), Some("x\"y"));
        assert_eq!(c[0].param("nonce"), Some("abc"));
        assert_eq!(c[0].param("qop"), Some("auth"));
    }

    #[test]
    fn junk_is_tolerated() {
        let c = parse(&[
            "",
            "   ,,, ",
            "@@@ Negotiate",
            "Negotiate !!!notbase64",
            "\"unterminated",
        ]);
        assert!(c.iter().any(|c| c.is("Negotiate") && c.token.is_none()));
        let c = parse(&["Negotiate ###"]);
        assert_eq!(c[0].scheme, "Negotiate");
        assert_eq!(find(&c, "negotiate").map(|c| c.token.is_none()), Some(true));
    }
}
