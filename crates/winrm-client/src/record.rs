//! Recording of exchanges as fixtures (see the crate README for the format).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::session::Op;
use crate::Error;

/// Replacement for the endpoint host name when scrubbing.
pub const SCRUBBED_HOST: &str = "host.example.invalid";
const SCRUBBED_SECRET: &str = "********";

/// What is taken out of a request or reply before it is written anywhere (a recording, or the
/// `-vvv` log): the configured secrets, and the endpoint's host names when asked.
#[derive(Debug, Default)]
pub(crate) struct Scrub {
    hosts: Vec<String>,
    secrets: Vec<zeroize::Zeroizing<String>>,
}

impl Scrub {
    /// Strips `secrets` (empty ones ignored) and, when `scrub_hosts`, `host` and its first label.
    pub(crate) fn new(scrub_hosts: bool, host: &str, secrets: Vec<zeroize::Zeroizing<String>>) -> Self {
        let mut hosts = Vec::new();
        if scrub_hosts && !host.is_empty() {
            hosts.push(host.to_owned());
            if let Some(short) = host.split('.').next() {
                if short != host && short.parse::<u8>().is_err() {
                    hosts.push(short.to_owned());
                }
            }
        }
        // Longest first so that the FQDN is replaced before its first label.
        hosts.sort_by_key(|h| std::cmp::Reverse(h.len()));
        // A secret in an XML text or attribute is escaped: strip its escaped forms as well.
        let mut all: Vec<zeroize::Zeroizing<String>> = Vec::new();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            let text =
                zeroize::Zeroizing::new(s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"));
            let attr = zeroize::Zeroizing::new(text.replace('"', "&quot;").replace('\'', "&apos;"));
            for v in [s, text, attr] {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
        }
        // Longest first, so that no shorter form leaves part of a longer one behind.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrub { hosts, secrets: all }
    }

    /// `text` with every secret replaced by `********` and every scrubbed host name by
    /// [`SCRUBBED_HOST`].
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), SCRUBBED_SECRET);
        }
        for h in &self.hosts {
            out = replace_ignore_ascii_case(&out, h, SCRUBBED_HOST);
        }
        out
    }
}

/// Writes each exchange, decrypted, into a directory.
#[derive(Debug)]
pub(crate) struct Recorder {
    dir: PathBuf,
    scrub_hosts: bool,
    scrub: Scrub,
    counter: AtomicU64,
}

impl Recorder {
    pub(crate) fn new(
        dir: PathBuf,
        scrub_hosts: bool,
        host: &str,
        secrets: Vec<zeroize::Zeroizing<String>>,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Record {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Recorder {
            dir,
            scrub_hosts,
            scrub: Scrub::new(scrub_hosts, host, secrets),
            counter: AtomicU64::new(0),
        })
    }

    fn scrub(&self, text: &str) -> String {
        self.scrub.apply(text)
    }

    /// Writes `NNNN-<op>.request.xml`, `NNNN-<op>.response.xml` and `NNNN-<op>.meta`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &self,
        op: &Op<'_>,
        request: &str,
        status: u16,
        response: &[u8],
        elapsed: Duration,
        encrypted: bool,
        session: usize,
    ) -> Result<(), Error> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let name: String = op
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let stem = format!("{n:04}-{name}");
        let response = String::from_utf8_lossy(response);
        self.file(
            &self.dir.join(format!("{stem}.request.xml")),
            &self.scrub(request),
        )?;
        self.file(
            &self.dir.join(format!("{stem}.response.xml")),
            &self.scrub(&response),
        )?;
        let meta = format!(
            "operation: {}\nresource_uri: {}\nstatus: {status}\nelapsed_ms: {}\nencrypted: {encrypted}\nsession: {session}\nscrubbed_hosts: {}\n",
            op.name,
            self.scrub(op.resource_uri),
            elapsed.as_millis(),
            self.scrub_hosts,
        );
        self.file(&self.dir.join(format!("{stem}.meta")), &meta)
    }

    fn file(&self, path: &Path, text: &str) -> Result<(), Error> {
        let err = |source| Error::Record {
            path: path.display().to_string(),
            source,
        };
        let mut f = std::fs::File::create(path).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)
    }
}

fn replace_ignore_ascii_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    let lower = text.to_ascii_lowercase();
    let n = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(&n) {
        if i < last {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = i + n.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_replaces_hosts_case_insensitively_and_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::new(
            dir.path().to_path_buf(),
            true,
            "hv01.corp.example",
            vec![zeroize::Zeroizing::new("S3cret!".to_owned())],
        )
        .unwrap();
        let s = r.scrub("<a>http://HV01.corp.example:5985/wsman</a><b>HV01</b><p>S3cret!</p>");
        assert_eq!(
            s,
            format!("<a>http://{SCRUBBED_HOST}:5985/wsman</a><b>{SCRUBBED_HOST}</b><p>********</p>")
        );
    }

    #[test]
    fn secrets_are_scrubbed_in_their_xml_escaped_forms_too() {
        let s = Scrub::new(
            false,
            "hv01",
            vec![zeroize::Zeroizing::new("a<b&'c\"".to_owned())],
        );
        let text = "<q>x = 'a&lt;b&amp;&apos;c&quot;'</q><t>a&lt;b&amp;'c\"</t>a<b&'c\" hv01";
        assert_eq!(s.apply(text), "<q>x = '********'</q><t>********</t>******** hv01");
    }
}
