//! Run-time binding to the system GSSAPI library (RFC 2744 C bindings plus the MIT/Heimdal
//! extensions `gss_acquire_cred_from`, `gss_acquire_cred_with_password`, `gss_wrap_iov`,
//! `gss_unwrap_iov` and `gss_set_neg_mechs`).
//!
//! The library is opened with `libloading` the first time Kerberos is used, so building the
//! crate needs no system development package. This is the only module of the crate with
//! `unsafe` code: the C structures are declared here (`#[repr(C)]`), every handle the library
//! returns is owned by a Rust value that releases it on drop, and every buffer the library
//! fills is copied out and released before the call returns.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CString, OsStr, OsString};
use std::ptr;
use std::sync::{Arc, OnceLock};

use zeroize::Zeroize;

use crate::Error;

/// `OM_uint32`.
type OmUint32 = u32;

// The C structures. Apple's GSS.framework declares them under `#pragma pack(push,2)` on
// x86_64 (binary compatibility with its historic layout); everywhere else they are natural C
// layout.

/// `gss_OID_desc` [RFC 2744 3.3].
#[cfg_attr(all(target_os = "macos", target_arch = "x86_64"), repr(C, packed(2)))]
#[cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), repr(C))]
#[derive(Clone, Copy)]
struct OidDesc {
    length: OmUint32,
    elements: *const c_void,
}

/// `gss_OID_set_desc` [RFC 2744 3.4].
#[cfg_attr(all(target_os = "macos", target_arch = "x86_64"), repr(C, packed(2)))]
#[cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), repr(C))]
#[derive(Clone, Copy)]
struct OidSetDesc {
    count: usize,
    elements: *mut OidDesc,
}

/// `gss_buffer_desc` [RFC 2744 3.2].
#[cfg_attr(all(target_os = "macos", target_arch = "x86_64"), repr(C, packed(2)))]
#[cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), repr(C))]
#[derive(Clone, Copy)]
struct BufferDesc {
    length: usize,
    value: *mut c_void,
}

impl BufferDesc {
    const EMPTY: BufferDesc = BufferDesc {
        length: 0,
        value: ptr::null_mut(),
    };

    /// A descriptor pointing at `bytes` (the library only reads input buffers).
    fn borrowed(bytes: &[u8]) -> BufferDesc {
        BufferDesc {
            length: bytes.len(),
            value: bytes.as_ptr() as *mut c_void,
        }
    }
}

/// `struct gss_channel_bindings_struct` [RFC 2744 3.11].
#[cfg_attr(all(target_os = "macos", target_arch = "x86_64"), repr(C, packed(2)))]
#[cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), repr(C))]
struct ChannelBindingsDesc {
    initiator_addrtype: OmUint32,
    initiator_address: BufferDesc,
    acceptor_addrtype: OmUint32,
    acceptor_address: BufferDesc,
    application_data: BufferDesc,
}

/// `gss_iov_buffer_desc` (MIT `gssapi_ext.h`, Heimdal `gssapi.h`).
#[cfg_attr(all(target_os = "macos", target_arch = "x86_64"), repr(C, packed(2)))]
#[cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), repr(C))]
#[derive(Clone, Copy)]
struct IovBufferDesc {
    kind: OmUint32,
    buffer: BufferDesc,
}

/// `gss_key_value_element_desc` (credential store extension).
#[repr(C)]
struct KeyValueElement {
    key: *const c_char,
    value: *const c_char,
}

/// `gss_key_value_set_desc` (credential store extension).
#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *const KeyValueElement,
}

type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;
const GSS_C_INITIATE: c_int = 1;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_C_AF_UNSPEC: OmUint32 = 0;
const GSS_S_COMPLETE: OmUint32 = 0;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// Supplementary status bits of per-message calls [RFC 2744 3.9.1]: the token was valid but
/// is a replay, too old to tell, later than an earlier one not yet seen, or arrived after a
/// later one. MIT decrypts the message first and then reports them, so the plaintext is there.
const GSS_S_DUPLICATE_TOKEN: OmUint32 = 1 << 1;
const GSS_S_OLD_TOKEN: OmUint32 = 1 << 2;
const GSS_S_UNSEQ_TOKEN: OmUint32 = 1 << 3;
const GSS_S_GAP_TOKEN: OmUint32 = 1 << 4;
const GSS_IOV_BUFFER_TYPE_DATA: OmUint32 = 1;
const GSS_IOV_BUFFER_TYPE_HEADER: OmUint32 = 2;
const GSS_IOV_BUFFER_TYPE_PADDING: OmUint32 = 9;

/// Routine error numbers (`major >> 16 & 0xff`) [RFC 2744 3.9.1].
const GSS_S_BAD_NAME: OmUint32 = 2;
const GSS_S_BAD_BINDINGS: OmUint32 = 4;
const GSS_S_BAD_SIG: OmUint32 = 6;
const GSS_S_NO_CRED: OmUint32 = 7;
const GSS_S_DEFECTIVE_TOKEN: OmUint32 = 9;
const GSS_S_CREDENTIALS_EXPIRED: OmUint32 = 11;

/// Context flags [RFC 2744 5.19].
pub const GSS_C_DELEG_FLAG: u32 = 1;
/// Mutual authentication.
pub const GSS_C_MUTUAL_FLAG: u32 = 2;
/// Replay detection.
pub const GSS_C_REPLAY_FLAG: u32 = 4;
/// Out-of-sequence detection.
pub const GSS_C_SEQUENCE_FLAG: u32 = 8;
/// Confidentiality (sealing) available.
pub const GSS_C_CONF_FLAG: u32 = 16;
/// Integrity (signing) available.
pub const GSS_C_INTEG_FLAG: u32 = 32;

/// DER bodies of the object identifiers we pass to the library.
const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]; // 1.2.840.113554.1.2.2 [RFC 1964]
const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]; // 1.3.6.1.5.5.2 [RFC 4178]
const OID_NT_HOSTBASED_SERVICE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04]; // [RFC 2743 4.1]
const OID_KRB5_NT_PRINCIPAL_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01]; // [RFC 1964 2.1.1]

/// The security mechanism a context uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// Raw Kerberos V5 [RFC 4121] (HTTP scheme `Kerberos`).
    Krb5,
    /// SPNEGO [RFC 4178] restricted to Kerberos (HTTP scheme `Negotiate`).
    Spnego,
}

/// How a name string is interpreted by `gss_import_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameType {
    /// `service@host` (GSS_C_NT_HOSTBASED_SERVICE).
    HostBasedService,
    /// `user@REALM` or `HTTP/host@REALM` (GSS_KRB5_NT_PRINCIPAL_NAME).
    Krb5Principal,
}

type ImportNameFn = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc, *mut OidDesc, *mut Name) -> OmUint32;
type ReleaseNameFn = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type DisplayNameFn =
    unsafe extern "C" fn(*mut OmUint32, Name, *mut BufferDesc, *mut *mut OidDesc) -> OmUint32;
type AcquireCredFn = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut OidSetDesc,
    c_int,
    *mut Cred,
    *mut *mut OidSetDesc,
    *mut OmUint32,
) -> OmUint32;
type AcquireCredFromFn = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut OidSetDesc,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut OidSetDesc,
    *mut OmUint32,
) -> OmUint32;
type AcquireCredWithPasswordFn = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    *mut BufferDesc,
    OmUint32,
    *mut OidSetDesc,
    c_int,
    *mut Cred,
    *mut *mut OidSetDesc,
    *mut OmUint32,
) -> OmUint32;
type ReleaseCredFn = unsafe extern "C" fn(*mut OmUint32, *mut Cred) -> OmUint32;
type SetNegMechsFn = unsafe extern "C" fn(*mut OmUint32, Cred, *mut OidSetDesc) -> OmUint32;
type InitSecContextFn = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Ctx,
    Name,
    *mut OidDesc,
    OmUint32,
    OmUint32,
    *mut ChannelBindingsDesc,
    *mut BufferDesc,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DeleteSecContextFn = unsafe extern "C" fn(*mut OmUint32, *mut Ctx, *mut BufferDesc) -> OmUint32;
type InquireContextFn = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    *mut Name,
    *mut Name,
    *mut OmUint32,
    *mut *mut OidDesc,
    *mut OmUint32,
    *mut c_int,
    *mut c_int,
) -> OmUint32;
type ReleaseBufferFn = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc) -> OmUint32;
type DisplayStatusFn = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    *mut OidDesc,
    *mut OmUint32,
    *mut BufferDesc,
) -> OmUint32;
type WrapIovFn = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    c_int,
    OmUint32,
    *mut c_int,
    *mut IovBufferDesc,
    c_int,
) -> OmUint32;
type UnwrapIovFn = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    *mut c_int,
    *mut OmUint32,
    *mut IovBufferDesc,
    c_int,
) -> OmUint32;
type UnwrapFn = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    *mut BufferDesc,
    *mut BufferDesc,
    *mut c_int,
    *mut OmUint32,
) -> OmUint32;

/// The resolved entry points.
struct Fns {
    import_name: ImportNameFn,
    release_name: ReleaseNameFn,
    display_name: DisplayNameFn,
    acquire_cred: AcquireCredFn,
    acquire_cred_from: Option<AcquireCredFromFn>,
    acquire_cred_with_password: Option<AcquireCredWithPasswordFn>,
    release_cred: ReleaseCredFn,
    set_neg_mechs: Option<SetNegMechsFn>,
    init_sec_context: InitSecContextFn,
    delete_sec_context: DeleteSecContextFn,
    inquire_context: InquireContextFn,
    release_buffer: ReleaseBufferFn,
    display_status: DisplayStatusFn,
    wrap_iov: Option<WrapIovFn>,
    wrap_iov_length: Option<WrapIovFn>,
    unwrap_iov: Option<UnwrapIovFn>,
    unwrap: UnwrapFn,
}

/// A loaded system GSSAPI library.
pub struct Library {
    fns: Fns,
    /// OID descriptors handed to the library; boxed so their addresses stay put.
    oids: Box<[OidDesc; 4]>,
    path: String,
    /// Heimdal (and Apple's GSS): unwrap with gss_unwrap instead of gss_unwrap_iov.
    heimdal: bool,
    // Kept last so it is dropped after everything else; the function pointers above are only
    // valid while it is loaded (every handle holds an `Arc<Library>`).
    _lib: libloading::Library,
}

// SAFETY: `Library` only holds function pointers into a loaded shared object that is never
// unloaded while the `Library` lives, and OID descriptors pointing at `'static` byte arrays;
// none of it is mutated after construction, so sharing it between threads is sound. The GSSAPI
// functions themselves are thread-safe for distinct handles (MIT and Heimdal document this).
unsafe impl Send for Library {}
// SAFETY: see the `Send` impl: all fields are immutable after construction.
unsafe impl Sync for Library {}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The file names tried by [`Library::system`], in order.
pub fn default_library_names() -> &'static [&'static str] {
    if cfg!(target_os = "macos") {
        &[
            "/System/Library/Frameworks/GSS.framework/GSS",
            "libgssapi_krb5.2.2.dylib",
        ]
    } else {
        &["libgssapi_krb5.so.2", "libgssapi_krb5.so", "libgssapi.so.3"]
    }
}

/// What to install when no library could be loaded.
pub fn install_hint() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS ships GSS.framework; check that /System/Library/Frameworks/GSS.framework exists"
    } else {
        "install the MIT Kerberos GSSAPI library: Debian/Ubuntu `apt install libgssapi-krb5-2`, \
         Fedora/RHEL `dnf install krb5-libs`, Alpine `apk add krb5-libs` \
         (Heimdal's libgssapi.so.3 also works)"
    }
}

static SYSTEM: OnceLock<Result<Arc<Library>, String>> = OnceLock::new();

/// The libraries [`Library::system`] tries, given the value of `HVCTL_GSSAPI_LIBRARY`: that
/// path alone when set and not empty, otherwise [`default_library_names`]. The override must be
/// an absolute path: a bare or relative name would be searched for in the dynamic loader's
/// path (and the current directory), so whatever library of that name is found first would
/// run inside the process with the user's credentials.
pub fn library_candidates(override_path: Option<OsString>) -> Result<Vec<OsString>, String> {
    match override_path {
        Some(p) if !p.is_empty() => {
            if std::path::Path::new(&p).is_absolute() {
                Ok(vec![p])
            } else {
                Err(format!(
                    "HVCTL_GSSAPI_LIBRARY must be an absolute path to the gssapi library, not {:?}",
                    p.to_string_lossy()
                ))
            }
        }
        _ => Ok(default_library_names().iter().map(OsString::from).collect()),
    }
}

impl Library {
    /// The system library, loaded once per process: the path in the environment variable
    /// `HVCTL_GSSAPI_LIBRARY` if set (it must be absolute, see [`library_candidates`]),
    /// otherwise [`default_library_names`] in order. [`Library::path`] tells which one was
    /// loaded (the transport logs it; this crate does not log).
    pub fn system() -> Result<Arc<Library>, Error> {
        SYSTEM
            .get_or_init(|| {
                let names = library_candidates(std::env::var_os("HVCTL_GSSAPI_LIBRARY"))?;
                Library::open(&names).map_err(|e| match e {
                    Error::Gssapi(s) => s,
                    other => other.to_string(),
                })
            })
            .clone()
            .map_err(Error::Gssapi)
    }

    /// Loads the first of `candidates` that opens and resolves all required symbols. The
    /// error names every path tried and the package to install.
    pub fn open<S: AsRef<OsStr>>(candidates: &[S]) -> Result<Arc<Library>, Error> {
        let mut tried = Vec::new();
        for c in candidates {
            let name = c.as_ref();
            // SAFETY: loading a shared library runs its initialisers; the GSSAPI libraries we
            // name here (MIT, Heimdal, Apple GSS) have initialisers that are safe to run at any
            // time in a multi-threaded process.
            match unsafe { libloading::Library::new(name) } {
                Ok(lib) => match Library::resolve(lib, name) {
                    Ok(l) => return Ok(Arc::new(l)),
                    Err(e) => tried.push(format!("{}: {e}", name.to_string_lossy())),
                },
                Err(e) => tried.push(format!("{}: {e}", name.to_string_lossy())),
            }
        }
        Err(Error::Gssapi(format!(
            "cannot load the system gssapi library (tried {}); {}",
            tried.join("; "),
            install_hint()
        )))
    }

    fn resolve(lib: libloading::Library, name: &OsStr) -> Result<Library, String> {
        /// Resolves a required symbol.
        fn req<T: Copy>(lib: &libloading::Library, sym: &str) -> Result<T, String> {
            // SAFETY: `T` is the `unsafe extern "C" fn` type matching the C prototype of `sym`
            // in RFC 2744 / MIT gssapi_ext.h; the pointer stays valid while `lib` is loaded,
            // which `Library` guarantees by owning `lib`.
            unsafe { lib.get::<T>(sym.as_bytes()).map(|s| *s) }
                .map_err(|e| format!("missing symbol {sym}: {e}"))
        }
        /// Resolves an optional extension symbol.
        fn opt<T: Copy>(lib: &libloading::Library, sym: &str) -> Option<T> {
            // SAFETY: as in `req`.
            unsafe { lib.get::<T>(sym.as_bytes()).map(|s| *s) }.ok()
        }
        let fns = Fns {
            import_name: req(&lib, "gss_import_name")?,
            release_name: req(&lib, "gss_release_name")?,
            display_name: req(&lib, "gss_display_name")?,
            acquire_cred: req(&lib, "gss_acquire_cred")?,
            acquire_cred_from: opt(&lib, "gss_acquire_cred_from"),
            acquire_cred_with_password: opt(&lib, "gss_acquire_cred_with_password"),
            release_cred: req(&lib, "gss_release_cred")?,
            set_neg_mechs: opt(&lib, "gss_set_neg_mechs"),
            init_sec_context: req(&lib, "gss_init_sec_context")?,
            delete_sec_context: req(&lib, "gss_delete_sec_context")?,
            inquire_context: req(&lib, "gss_inquire_context")?,
            release_buffer: req(&lib, "gss_release_buffer")?,
            display_status: req(&lib, "gss_display_status")?,
            wrap_iov: opt(&lib, "gss_wrap_iov"),
            wrap_iov_length: opt(&lib, "gss_wrap_iov_length"),
            unwrap_iov: opt(&lib, "gss_unwrap_iov"),
            unwrap: req(&lib, "gss_unwrap")?,
        };
        let oid = |b: &'static [u8]| OidDesc {
            length: b.len() as OmUint32,
            elements: b.as_ptr().cast(),
        };
        Ok(Library {
            fns,
            oids: Box::new([
                oid(OID_KRB5),
                oid(OID_SPNEGO),
                oid(OID_NT_HOSTBASED_SERVICE),
                oid(OID_KRB5_NT_PRINCIPAL_NAME),
            ]),
            path: name.to_string_lossy().into_owned(),
            heimdal: cfg!(target_os = "macos") || {
                let n = name.to_string_lossy();
                n.contains("libgssapi.so") || n.contains("heimdal")
            },
            _lib: lib,
        })
    }

    /// The file name the library was loaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the library has `gss_wrap_iov` (needed for WinRM message encryption).
    pub fn has_wrap_iov(&self) -> bool {
        self.fns.wrap_iov.is_some() && self.fns.wrap_iov_length.is_some()
    }

    /// Whether the library has `gss_acquire_cred_with_password`.
    pub fn has_password_credentials(&self) -> bool {
        self.fns.acquire_cred_with_password.is_some()
    }

    /// Whether the library has `gss_acquire_cred_from` (client keytab credentials).
    pub fn has_credential_store(&self) -> bool {
        self.fns.acquire_cred_from.is_some()
    }

    fn oid_ptr(&self, i: usize) -> *mut OidDesc {
        // The library takes non-const `gss_OID` but never writes through it.
        (&self.oids[i] as *const OidDesc).cast_mut()
    }

    fn mech_oid(&self, mech: Mech) -> *mut OidDesc {
        match mech {
            Mech::Krb5 => self.oid_ptr(0),
            Mech::Spnego => self.oid_ptr(1),
        }
    }

    /// The text of one status code (`gss_display_status`, all message parts joined).
    fn status_text(&self, code: OmUint32, kind: c_int) -> String {
        let mut parts = Vec::new();
        let mut msg_ctx: OmUint32 = 0;
        for _ in 0..8 {
            let mut minor = 0;
            let mut buf = BufferDesc::EMPTY;
            // SAFETY: all pointers are to live locals; `buf` is released below with
            // gss_release_buffer as the API requires.
            let major = unsafe {
                (self.fns.display_status)(&mut minor, code, kind, ptr::null_mut(), &mut msg_ctx, &mut buf)
            };
            if major != GSS_S_COMPLETE {
                break;
            }
            parts.push(text_of(&self.take_buffer(&mut buf)));
            if msg_ctx == 0 {
                break;
            }
        }
        parts.retain(|p| !p.is_empty());
        parts.join("; ")
    }

    /// Copies a library-allocated buffer out and releases it.
    fn take_buffer(&self, buf: &mut BufferDesc) -> Vec<u8> {
        let (len, value) = (buf.length, buf.value);
        let out = if value.is_null() || len == 0 {
            Vec::new()
        } else {
            // SAFETY: the library returned `value` as a buffer of `len` readable bytes that stays
            // valid until gss_release_buffer, which happens right after the copy.
            unsafe { std::slice::from_raw_parts(value.cast::<u8>(), len) }.to_vec()
        };
        if !value.is_null() {
            let mut minor = 0;
            // SAFETY: `buf` was filled by the library and has not been released yet.
            unsafe { (self.fns.release_buffer)(&mut minor, buf) };
        }
        *buf = BufferDesc::EMPTY;
        out
    }

    /// An [`Error::Gssapi`] for a failed call, with the library's texts and a hint.
    fn error(&self, call: &str, major: OmUint32, minor: OmUint32) -> Error {
        let major_text = self.status_text(major, GSS_C_GSS_CODE);
        let minor_text = if minor != 0 {
            self.status_text(minor, GSS_C_MECH_CODE)
        } else {
            String::new()
        };
        let mut msg = format!("{call} failed: {major_text}");
        if !minor_text.is_empty() {
            msg.push_str(": ");
            msg.push_str(&minor_text);
        }
        msg.push_str(&format!(" (major 0x{major:08x}, minor 0x{minor:08x})"));
        if let Some(h) = hint(major, &minor_text) {
            msg.push_str("; hint: ");
            msg.push_str(h);
        }
        Error::Gssapi(msg)
    }
}

/// A hint for the most common failures (by routine error and the mechanism's message).
fn hint(major: OmUint32, minor_text: &str) -> Option<&'static str> {
    let m = minor_text.to_ascii_lowercase();
    let routine = (major >> 16) & 0xff;
    let unknown = m.contains("not found in kerberos database") || m.contains("principal unknown");
    if unknown && m.contains("server") {
        return Some(
            "the KDC has no such service principal: check the SPN (default HTTP/<host>) and use the \
             host's fully qualified DNS name, not an IP address or alias (or override the SPN)",
        );
    }
    if unknown && m.contains("client") {
        return Some("the KDC does not know this user: check the principal name and its realm (user@REALM, realm in upper case)");
    }
    if m.contains("clock skew") {
        return Some("the clocks of this machine and the KDC differ by more than 5 minutes: sync the clock");
    }
    if m.contains("cannot find kdc") || m.contains("cannot contact any kdc") || m.contains("cannot resolve") {
        return Some("no KDC reachable for the realm: check default_realm and [realms] in krb5.conf (KRB5_CONFIG) and DNS");
    }
    if m.contains("preauthentication failed") || m.contains("password incorrect") {
        return Some("wrong password or key for the principal");
    }
    if m.contains("key table") || m.contains("keytab") {
        return Some(
            "the keytab cannot be read or has no key for the principal: check its path and `klist -k` it",
        );
    }
    if routine == GSS_S_NO_CRED
        || routine == GSS_S_CREDENTIALS_EXPIRED
        || m.contains("no kerberos credentials")
        || m.contains("no credentials cache")
        || m.contains("credentials cache")
        || m.contains("expired")
    {
        return Some("no valid Kerberos ticket: run `kinit user@REALM` (or set KRB5CCNAME to the right ccache), or use a keytab or password");
    }
    if routine == GSS_S_BAD_BINDINGS {
        return Some(
            "channel bindings did not match: a TLS-intercepting proxy or a wrong server certificate",
        );
    }
    if routine == GSS_S_BAD_NAME {
        return Some(
            "the name could not be parsed: use service@host for the SPN and user@REALM for principals",
        );
    }
    if routine == GSS_S_BAD_SIG || routine == GSS_S_DEFECTIVE_TOKEN {
        return Some("the peer's token is corrupt or was not produced for this context");
    }
    None
}

/// Library text (some implementations count the terminating NUL into the length).
fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches('\0')
        .trim()
        .to_owned()
}

fn is_error(major: OmUint32) -> bool {
    major & 0xffff_0000 != 0
}

/// Why an unwrapped message must not be used although it verified: the replay and sequence
/// supplementary bits [RFC 2744 3.9.1], which the library sets because the context was
/// established with GSS_C_REPLAY_FLAG and GSS_C_SEQUENCE_FLAG. `None` when none is set.
fn replay_or_sequence_error(major: OmUint32) -> Option<&'static str> {
    if major & GSS_S_DUPLICATE_TOKEN != 0 {
        Some("it is a replay of a message already received (GSS_S_DUPLICATE_TOKEN)")
    } else if major & GSS_S_OLD_TOKEN != 0 {
        Some("it is older than the replay window, a replay or a very late message (GSS_S_OLD_TOKEN)")
    } else if major & GSS_S_UNSEQ_TOKEN != 0 {
        Some("it arrived after a later message, out of order (GSS_S_UNSEQ_TOKEN)")
    } else if major & GSS_S_GAP_TOKEN != 0 {
        Some("an earlier message was skipped, out of order (GSS_S_GAP_TOKEN)")
    } else {
        None
    }
}

/// The error for an unwrapped message refused by [`replay_or_sequence_error`].
fn replay_error(call: &str, why: &str) -> Error {
    Error::Gssapi(format!(
        "{call} refused the server's message: {why}; its plaintext was discarded"
    ))
}

/// An imported name (`gss_name_t`), released on drop.
pub(crate) struct GssName {
    lib: Arc<Library>,
    raw: Name,
}

// SAFETY: a gss_name_t is an immutable heap object owned exclusively by this value; the
// libraries allow using it from any thread.
unsafe impl Send for GssName {}

impl GssName {
    /// `gss_import_name`.
    pub(crate) fn import(lib: &Arc<Library>, name: &str, kind: NameType) -> Result<GssName, Error> {
        let oid = match kind {
            NameType::HostBasedService => lib.oid_ptr(2),
            NameType::Krb5Principal => lib.oid_ptr(3),
        };
        let mut input = BufferDesc::borrowed(name.as_bytes());
        let mut raw: Name = ptr::null_mut();
        let mut minor = 0;
        // SAFETY: `input` points at `name` (alive for the call, read only); `oid` points into
        // `lib.oids`; `raw` is an out pointer to a local.
        let major = unsafe { (lib.fns.import_name)(&mut minor, &mut input, oid, &mut raw) };
        if is_error(major) || raw.is_null() {
            return Err(lib.error("gss_import_name", major, minor));
        }
        Ok(GssName {
            lib: lib.clone(),
            raw,
        })
    }

    /// `gss_display_name`: the name as text.
    pub(crate) fn display(&self) -> Option<String> {
        display_name(&self.lib, self.raw)
    }
}

fn display_name(lib: &Library, raw: Name) -> Option<String> {
    let mut buf = BufferDesc::EMPTY;
    let mut minor = 0;
    // SAFETY: `raw` is a live name; `buf` is released by `take_buffer`; the type out pointer
    // may be null per RFC 2744.
    let major = unsafe { (lib.fns.display_name)(&mut minor, raw, &mut buf, ptr::null_mut()) };
    if is_error(major) {
        return None;
    }
    Some(text_of(&lib.take_buffer(&mut buf)))
}

impl Drop for GssName {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `raw` came from gss_import_name and is released exactly once.
        unsafe { (self.lib.fns.release_name)(&mut minor, &mut self.raw) };
    }
}

/// Where initiator credentials come from.
pub(crate) enum CredSource<'a> {
    /// The default credential cache (KRB5CCNAME), or MIT's client keytab (KRB5_CLIENT_KTNAME).
    Default,
    /// A client keytab, through `gss_acquire_cred_from`; tickets go into a private memory ccache.
    Keytab { path: &'a str, ccache: &'a str },
    /// A password, through `gss_acquire_cred_with_password`.
    Password(&'a [u8]),
}

/// Initiator credentials (`gss_cred_id_t`), released on drop.
pub(crate) struct GssCred {
    lib: Arc<Library>,
    raw: Cred,
}

// SAFETY: the credential handle is owned exclusively by this value; MIT and Heimdal allow a
// credential to be used from any thread (not concurrently mutated here: we only pass it to
// gss_init_sec_context through `&self` from one owner).
unsafe impl Send for GssCred {}

impl GssCred {
    /// Acquires initiator credentials for `mech`; for SPNEGO the negotiable mechanisms are
    /// restricted to Kerberos (`gss_set_neg_mechs`) so no NTLM mechanism is offered.
    pub(crate) fn acquire(
        lib: &Arc<Library>,
        name: Option<&GssName>,
        mech: Mech,
        source: CredSource<'_>,
    ) -> Result<GssCred, Error> {
        let mut mech_desc = OidSetDesc {
            count: 1,
            elements: lib.mech_oid(mech),
        };
        let desired = name.map_or(ptr::null_mut(), |n| n.raw);
        let mut raw: Cred = ptr::null_mut();
        let mut minor = 0;
        let (call, major) = match source {
            CredSource::Default => {
                // SAFETY: pointers are to live locals / `lib.oids`; the actual_mechs and
                // time_rec out pointers may be null per RFC 2744.
                let major = unsafe {
                    (lib.fns.acquire_cred)(
                        &mut minor,
                        desired,
                        GSS_C_INDEFINITE,
                        &mut mech_desc,
                        GSS_C_INITIATE,
                        &mut raw,
                        ptr::null_mut(),
                        ptr::null_mut(),
                    )
                };
                ("gss_acquire_cred", major)
            }
            CredSource::Keytab { path, ccache } => {
                let f = lib.fns.acquire_cred_from.ok_or_else(|| {
                    Error::Gssapi(format!(
                        "{} has no gss_acquire_cred_from: keytab credentials need MIT krb5 >= 1.11; \
                         set KRB5_CLIENT_KTNAME and use the default credentials instead",
                        lib.path
                    ))
                })?;
                let to_c = |s: &str| {
                    CString::new(s).map_err(|_| Error::Gssapi("keytab path contains a NUL byte".into()))
                };
                let (k_kt, v_kt) = (to_c("client_keytab")?, to_c(path)?);
                let (k_cc, v_cc) = (to_c("ccache")?, to_c(ccache)?);
                let elems = [
                    KeyValueElement {
                        key: k_kt.as_ptr(),
                        value: v_kt.as_ptr(),
                    },
                    KeyValueElement {
                        key: k_cc.as_ptr(),
                        value: v_cc.as_ptr(),
                    },
                ];
                let store = KeyValueSet {
                    count: elems.len() as OmUint32,
                    elements: elems.as_ptr(),
                };
                // SAFETY: `store` and the C strings it points to outlive the call; other
                // pointers as for gss_acquire_cred.
                let major = unsafe {
                    f(
                        &mut minor,
                        desired,
                        GSS_C_INDEFINITE,
                        &mut mech_desc,
                        GSS_C_INITIATE,
                        &store,
                        &mut raw,
                        ptr::null_mut(),
                        ptr::null_mut(),
                    )
                };
                ("gss_acquire_cred_from", major)
            }
            CredSource::Password(pw) => {
                let f = lib.fns.acquire_cred_with_password.ok_or_else(|| {
                    Error::Gssapi(format!(
                        "{} has no gss_acquire_cred_with_password: run kinit first or use a keytab",
                        lib.path
                    ))
                })?;
                let mut pw_buf = BufferDesc::borrowed(pw);
                // SAFETY: `pw_buf` points at the caller's password (alive for the call; the
                // library copies what it keeps); other pointers as for gss_acquire_cred.
                let major = unsafe {
                    f(
                        &mut minor,
                        desired,
                        &mut pw_buf,
                        GSS_C_INDEFINITE,
                        &mut mech_desc,
                        GSS_C_INITIATE,
                        &mut raw,
                        ptr::null_mut(),
                        ptr::null_mut(),
                    )
                };
                ("gss_acquire_cred_with_password", major)
            }
        };
        if is_error(major) || raw.is_null() {
            return Err(lib.error(call, major, minor));
        }
        let cred = GssCred {
            lib: lib.clone(),
            raw,
        };
        if mech == Mech::Spnego {
            if let Some(set_neg) = lib.fns.set_neg_mechs {
                let mut krb5 = OidSetDesc {
                    count: 1,
                    elements: lib.mech_oid(Mech::Krb5),
                };
                let mut minor = 0;
                // SAFETY: `cred.raw` is a live SPNEGO credential; the set points into `lib.oids`.
                let major = unsafe { set_neg(&mut minor, cred.raw, &mut krb5) };
                if is_error(major) {
                    return Err(lib.error("gss_set_neg_mechs", major, minor));
                }
            }
        }
        Ok(cred)
    }
}

impl Drop for GssCred {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `raw` came from an acquire call and is released exactly once.
        unsafe { (self.lib.fns.release_cred)(&mut minor, &mut self.raw) };
    }
}

/// The result of one `gss_init_sec_context` call.
pub(crate) struct InitStep {
    /// GSS_S_COMPLETE (true) or GSS_S_CONTINUE_NEEDED (false).
    pub(crate) complete: bool,
    /// The token to send (may be empty).
    pub(crate) token: Vec<u8>,
    /// The context flags granted so far.
    pub(crate) flags: u32,
}

/// The three buffers `gss_wrap_iov` produced.
pub(crate) struct IovWrapped {
    /// HEADER: the token header (with the rotated RFC 4121 trailer).
    pub(crate) header: Vec<u8>,
    /// DATA: the ciphertext.
    pub(crate) data: Vec<u8>,
    /// PADDING (empty for AES).
    pub(crate) padding: Vec<u8>,
}

/// A security context (`gss_ctx_id_t`), deleted on drop.
pub(crate) struct GssContext {
    lib: Arc<Library>,
    raw: Ctx,
}

// SAFETY: the context handle is owned exclusively by this value and used only through
// `&mut self`, so it is never used from two threads at once; the libraries allow moving a
// context between threads.
unsafe impl Send for GssContext {}

impl GssContext {
    /// A context that has not started yet.
    pub(crate) fn new(lib: &Arc<Library>) -> GssContext {
        GssContext {
            lib: lib.clone(),
            raw: ptr::null_mut(),
        }
    }

    /// One `gss_init_sec_context` call. `channel_binding` is the `application_data` of the
    /// `gss_channel_bindings_struct` (address types GSS_C_AF_UNSPEC, empty addresses).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn init(
        &mut self,
        cred: &GssCred,
        target: &GssName,
        mech: Mech,
        req_flags: u32,
        channel_binding: Option<&[u8]>,
        input: Option<&[u8]>,
    ) -> Result<InitStep, Error> {
        let lib = self.lib.clone();
        let mut cb = channel_binding.map(|app| ChannelBindingsDesc {
            initiator_addrtype: GSS_C_AF_UNSPEC,
            initiator_address: BufferDesc::EMPTY,
            acceptor_addrtype: GSS_C_AF_UNSPEC,
            acceptor_address: BufferDesc::EMPTY,
            application_data: BufferDesc::borrowed(app),
        });
        let cb_ptr = cb
            .as_mut()
            .map_or(ptr::null_mut(), |c| c as *mut ChannelBindingsDesc);
        let mut input_buf = input.map(BufferDesc::borrowed);
        let input_ptr = input_buf
            .as_mut()
            .map_or(ptr::null_mut(), |b| b as *mut BufferDesc);
        let mut output = BufferDesc::EMPTY;
        let mut ret_flags: OmUint32 = 0;
        let mut minor = 0;
        // SAFETY: `self.raw` is null (first call) or the context this function created; the
        // credential, name and OID are live; bindings and input point at caller slices that
        // outlive the call; `output` is released by `take_buffer`; null is allowed for the
        // actual_mech and time_rec out pointers.
        let major = unsafe {
            (lib.fns.init_sec_context)(
                &mut minor,
                cred.raw,
                &mut self.raw,
                target.raw,
                lib.mech_oid(mech),
                req_flags,
                GSS_C_INDEFINITE,
                cb_ptr,
                input_ptr,
                ptr::null_mut(),
                &mut output,
                &mut ret_flags,
                ptr::null_mut(),
            )
        };
        let token = lib.take_buffer(&mut output);
        if is_error(major) {
            return Err(lib.error("gss_init_sec_context", major, minor));
        }
        Ok(InitStep {
            complete: major & GSS_S_CONTINUE_NEEDED == 0,
            token,
            flags: ret_flags,
        })
    }

    /// `gss_inquire_context`: (initiator name, acceptor name, flags, open).
    pub(crate) fn inquire(&self) -> Result<(Option<String>, Option<String>, u32, bool), Error> {
        if self.raw.is_null() {
            return Err(Error::InvalidState("the security context has not started"));
        }
        let lib = &self.lib;
        let mut src: Name = ptr::null_mut();
        let mut targ: Name = ptr::null_mut();
        let mut flags: OmUint32 = 0;
        let mut open: c_int = 0;
        let mut minor = 0;
        // SAFETY: `self.raw` is a live context; out pointers are locals or null (allowed).
        let major = unsafe {
            (lib.fns.inquire_context)(
                &mut minor,
                self.raw,
                &mut src,
                &mut targ,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut flags,
                ptr::null_mut(),
                &mut open,
            )
        };
        if is_error(major) {
            return Err(lib.error("gss_inquire_context", major, minor));
        }
        let mut names = [src, targ].map(|n| {
            if n.is_null() {
                return None;
            }
            let s = display_name(lib, n);
            let mut n = n;
            let mut minor = 0;
            // SAFETY: `n` was returned by gss_inquire_context for us to release.
            unsafe { (lib.fns.release_name)(&mut minor, &mut n) };
            s
        });
        Ok((names[0].take(), names[1].take(), flags, open != 0))
    }

    /// Seals `plaintext` with `gss_wrap_iov` and buffers HEADER | DATA | PADDING (the layout
    /// WinRM uses; no TRAILER, so the RFC 4121 trailer is rotated into the header). Returns
    /// (header, encrypted data, padding bytes).
    pub(crate) fn wrap_iov(&mut self, plaintext: &[u8]) -> Result<IovWrapped, Error> {
        let lib = self.lib.clone();
        let (Some(wrap), Some(wrap_len)) = (lib.fns.wrap_iov, lib.fns.wrap_iov_length) else {
            return Err(Error::Gssapi(format!(
                "{} has no gss_wrap_iov, which WinRM message encryption needs (MIT krb5 or Heimdal >= 7); use HTTPS instead",
                lib.path
            )));
        };
        if self.raw.is_null() {
            return Err(Error::InvalidState(
                "the security context has not been established",
            ));
        }
        let mut data = plaintext.to_vec();
        let mut iov = [
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_HEADER,
                buffer: BufferDesc::EMPTY,
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_DATA,
                buffer: BufferDesc {
                    length: data.len(),
                    value: data.as_mut_ptr().cast(),
                },
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_PADDING,
                buffer: BufferDesc::EMPTY,
            },
        ];
        let mut conf: c_int = 0;
        let mut minor = 0;
        // SAFETY: `iov` is a local array of 3 descriptors; the DATA buffer points at `data`
        // (read for its length only); the call only writes the HEADER and PADDING lengths.
        let major = unsafe { wrap_len(&mut minor, self.raw, 1, 0, &mut conf, iov.as_mut_ptr(), 3) };
        if is_error(major) {
            return Err(lib.error("gss_wrap_iov_length", major, minor));
        }
        let (hlen, plen) = (iov[0].buffer.length, iov[2].buffer.length);
        if hlen > 1 << 16 || plen > 1 << 16 {
            return Err(Error::Gssapi(format!(
                "gss_wrap_iov_length returned implausible lengths {hlen}/{plen}"
            )));
        }
        let mut header = vec![0u8; hlen];
        let mut padding = vec![0u8; plen];
        iov[0].buffer = BufferDesc {
            length: header.len(),
            value: header.as_mut_ptr().cast(),
        };
        iov[2].buffer = BufferDesc {
            length: padding.len(),
            value: padding.as_mut_ptr().cast(),
        };
        let mut minor = 0;
        // SAFETY: each descriptor points at a Rust buffer of exactly the stated length, sized
        // by gss_wrap_iov_length; encryption is in place within those buffers.
        let major = unsafe { wrap(&mut minor, self.raw, 1, 0, &mut conf, iov.as_mut_ptr(), 3) };
        if is_error(major) {
            return Err(lib.error("gss_wrap_iov", major, minor));
        }
        if conf == 0 {
            return Err(Error::Gssapi(
                "gss_wrap_iov did not encrypt (no confidentiality on this context)".into(),
            ));
        }
        // The library may shorten the header and padding lengths; never lengthen them.
        header.truncate(iov[0].buffer.length.min(hlen));
        data.truncate(iov[1].buffer.length.min(plaintext.len()));
        padding.truncate(iov[2].buffer.length.min(plen));
        Ok(IovWrapped {
            header,
            data,
            padding,
        })
    }

    /// Verifies and unseals one message: `gss_unwrap_iov` with HEADER | DATA when the library
    /// has it (MIT), otherwise `gss_unwrap` over header || data (Heimdal, heimdal/heimdal#739).
    /// A message that was not encrypted is rejected.
    pub(crate) fn unwrap(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        let lib = self.lib.clone();
        if self.raw.is_null() {
            return Err(Error::InvalidState(
                "the security context has not been established",
            ));
        }
        let mut conf: c_int = 0;
        let mut qop: OmUint32 = 0;
        let mut minor = 0;
        let out = if let Some(unwrap_iov) = lib.fns.unwrap_iov.filter(|_| !lib.heimdal) {
            let mut hdr = header.to_vec();
            let mut buf = data.to_vec();
            let (hlen, dlen) = (hdr.len(), buf.len());
            let mut iov = [
                IovBufferDesc {
                    kind: GSS_IOV_BUFFER_TYPE_HEADER,
                    buffer: BufferDesc {
                        length: hlen,
                        value: hdr.as_mut_ptr().cast(),
                    },
                },
                IovBufferDesc {
                    kind: GSS_IOV_BUFFER_TYPE_DATA,
                    buffer: BufferDesc {
                        length: dlen,
                        value: buf.as_mut_ptr().cast(),
                    },
                },
            ];
            // SAFETY: both descriptors point at Rust buffers of the stated lengths; MIT
            // decrypts in place and may only shrink the DATA length or move its start within
            // the buffer, which is checked below before reading.
            let major = unsafe { unwrap_iov(&mut minor, self.raw, &mut conf, &mut qop, iov.as_mut_ptr(), 2) };
            if is_error(major) {
                buf.zeroize();
                return Err(lib.error("gss_unwrap_iov", major, minor));
            }
            if let Some(why) = replay_or_sequence_error(major) {
                buf.zeroize();
                return Err(replay_error("gss_unwrap_iov", why));
            }
            let (start, len) = (iov[1].buffer.value as usize, iov[1].buffer.length);
            let base = buf.as_ptr() as usize;
            let offset = start
                .checked_sub(base)
                .filter(|o| o.checked_add(len).is_some_and(|e| e <= dlen));
            let out = offset.map(|o| buf[o..o + len].to_vec());
            buf.zeroize();
            out.ok_or_else(|| {
                Error::Gssapi("gss_unwrap_iov returned a data buffer outside the message".into())
            })?
        } else {
            let mut token = Vec::with_capacity(header.len() + data.len());
            token.extend_from_slice(header);
            token.extend_from_slice(data);
            let mut input = BufferDesc::borrowed(&token);
            let mut output = BufferDesc::EMPTY;
            // SAFETY: `input` points at `token` (alive for the call); `output` is released by
            // `take_buffer`.
            let major = unsafe {
                (lib.fns.unwrap)(&mut minor, self.raw, &mut input, &mut output, &mut conf, &mut qop)
            };
            let mut out = lib.take_buffer(&mut output);
            if is_error(major) {
                out.zeroize();
                return Err(lib.error("gss_unwrap", major, minor));
            }
            if let Some(why) = replay_or_sequence_error(major) {
                out.zeroize();
                return Err(replay_error("gss_unwrap", why));
            }
            out
        };
        if conf == 0 {
            return Err(Error::AuthenticationFailed(
                "the server sent a message that is signed but not encrypted".into(),
            ));
        }
        Ok(out)
    }
}

impl Drop for GssContext {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            let mut minor = 0;
            // SAFETY: `raw` was created by gss_init_sec_context and is deleted exactly once;
            // GSS_C_NO_BUFFER (null) is allowed for the output token.
            unsafe { (self.lib.fns.delete_sec_context)(&mut minor, &mut self.raw, ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_names_the_package() {
        let e = Library::open(&["/nonexistent/libgssapi_krb5.so.2"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/libgssapi_krb5.so.2"), "{e}");
        if cfg!(target_os = "linux") {
            assert!(e.contains("libgssapi-krb5-2") && e.contains("krb5-libs"), "{e}");
        }
    }

    #[test]
    fn the_library_override_must_be_an_absolute_path() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            library_candidates(some("/opt/krb5/lib/libgssapi_krb5.so.2")).unwrap(),
            vec![OsString::from("/opt/krb5/lib/libgssapi_krb5.so.2")]
        );
        for relative in ["libgssapi_krb5.so.2", "./libgssapi_krb5.so.2", "lib/evil.so"] {
            let e = library_candidates(some(relative)).unwrap_err();
            assert!(
                e.contains("HVCTL_GSSAPI_LIBRARY must be an absolute path") && e.contains(relative),
                "{e}"
            );
        }
        let defaults: Vec<OsString> = default_library_names().iter().map(OsString::from).collect();
        assert_eq!(library_candidates(None).unwrap(), defaults);
        assert_eq!(library_candidates(some("")).unwrap(), defaults);
    }

    #[test]
    fn hints() {
        assert!(hint(0x000d_0000, "Server not found in Kerberos database").is_some_and(|h| h.contains("SPN")));
        assert!(hint(GSS_S_NO_CRED << 16, "").is_some_and(|h| h.contains("kinit")));
        assert!(hint(
            0x000d_0000,
            "No Kerberos credentials available (default cache: FILE:/x)"
        )
        .is_some_and(|h| h.contains("kinit")));
        assert!(hint(GSS_S_BAD_BINDINGS << 16, "").is_some_and(|h| h.contains("channel bindings")));
        assert_eq!(hint(0x000d_0000, "something else"), None);
    }

    #[test]
    fn replay_and_sequence_bits_refuse_a_message() {
        assert_eq!(replay_or_sequence_error(GSS_S_COMPLETE), None);
        // CONTINUE_NEEDED is a supplementary bit too, but not one about message order.
        assert_eq!(replay_or_sequence_error(GSS_S_CONTINUE_NEEDED), None);
        for (bit, name) in [
            (GSS_S_DUPLICATE_TOKEN, "GSS_S_DUPLICATE_TOKEN"),
            (GSS_S_OLD_TOKEN, "GSS_S_OLD_TOKEN"),
            (GSS_S_UNSEQ_TOKEN, "GSS_S_UNSEQ_TOKEN"),
            (GSS_S_GAP_TOKEN, "GSS_S_GAP_TOKEN"),
        ] {
            assert!(!is_error(bit), "{name} is not a routine error");
            assert!(
                replay_or_sequence_error(bit).is_some_and(|w| w.contains(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn struct_layout_matches_c() {
        if cfg!(not(target_os = "macos")) && cfg!(target_pointer_width = "64") {
            assert_eq!(size_of::<OidDesc>(), 16);
            assert_eq!(size_of::<BufferDesc>(), 16);
            assert_eq!(size_of::<IovBufferDesc>(), 24);
            assert_eq!(size_of::<ChannelBindingsDesc>(), 64);
            assert_eq!(size_of::<KeyValueSet>(), 16);
        }
    }
}
