//! NTLM tests: the [MS-NLMP 4.2.4] NTLMv2 vectors, and client <-> acceptor round trips.

use std::sync::Arc;

use super::crypto;
use super::messages::*;
use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn h16(s: &str) -> [u8; 16] {
    h(s).try_into().unwrap()
}

/// An RNG that hands out `bytes` in order (cycling).
fn fixed_rng(bytes: Vec<u8>) -> Rng {
    let mut i = 0;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            *b = bytes[i % bytes.len()];
            i += 1;
        }
    })
}

fn counter_rng(seed: u8) -> Rng {
    let mut n = seed;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_mul(31).wrapping_add(17);
            *b = n;
        }
    })
}

// [MS-NLMP 4.2.1] common values and 4.2.4 NTLMv2 values.
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
/// MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", MsvAvEOL.
const TARGET_INFO: &str = "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";
/// NegotiateFlags of the 4.2.4 CHALLENGE (0xe28a8233).
const FLAGS_4_2_4: u32 = 0xe28a_8233;
/// [MS-NLMP 4.2.4.3] AUTHENTICATE_MESSAGE.
const AUTHENTICATE_4_2_4: &str = "4e544c4d535350000300000018001800 6c00000054005400840000000c000c00
    48000000080008005400000010001000 5c00000010001000d8000000358288e2 0501280a0000000f44006f006d006100
    69006e00550073006500720043004f00 4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa
    aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000 00000000aaaaaaaaaaaaaaaa00000000
    02000c0044006f006d00610069006e00 01000c00530065007200760065007200 0000000000000000c5dad2544fc97990
    94ce1ce90bc9d03e";

fn plaintext_utf16() -> Vec<u8> {
    crypto::utf16le("Plaintext")
}

#[test]
fn ms_nlmp_4_2_4_response_key_nt() {
    let key = crypto::ntowfv2("Password", "User", "Domain");
    assert_eq!(*key, h16("0c868a403bfd7a93a3001ef22ef02e3f"));
    // The acceptor's path (NT hash then NTOWFv2) agrees.
    let nt = crypto::nt_hash("Password");
    assert_eq!(*nt, h16("a4f49c406510bdcab6824ee7c30fd852"));
    assert_eq!(*crypto::ntowfv2_from_hash(&nt, "User", "Domain"), *key);
}

#[test]
fn ms_nlmp_4_2_4_ntlmv2_response_lmv2_and_session_base_key() {
    let key = crypto::ntowfv2("Password", "User", "Domain");
    let r = crypto::ntlmv2_response(
        &key,
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        0,
        &h(TARGET_INFO),
        false,
    );
    assert_eq!(&r.nt_response[..16], &h("68cd0ab851e51c96aabc927bebef6a1c")[..]);
    let expected_nt = h(&format!(
        "68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000 {TARGET_INFO} 00000000"
    ));
    assert_eq!(r.nt_response, expected_nt);
    assert_eq!(
        r.lm_response,
        h("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    );
    assert_eq!(*r.session_base_key, h16("8de40ccadbc14a82f15cb0ad0de95ca3"));
    // With a server timestamp the LM response is Z(24) [MS-NLMP 3.1.5.1.2].
    let r = crypto::ntlmv2_response(
        &key,
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        0,
        &h(TARGET_INFO),
        true,
    );
    assert_eq!(r.lm_response, vec![0; 24]);
}

#[test]
fn ms_nlmp_4_2_4_encrypted_session_key_and_directional_keys() {
    let base = h16("8de40ccadbc14a82f15cb0ad0de95ca3");
    assert_eq!(
        crypto::rc4_oneshot(&base, &RANDOM_SESSION_KEY),
        h("c5dad2544fc9799094ce1ce90bc9d03e")
    );
    assert_eq!(
        *crypto::seal_key(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true),
        h16("59f600973cc4960a25480a7c196e4c58")
    );
    assert_eq!(
        *crypto::sign_key(&RANDOM_SESSION_KEY, true),
        h16("4788dc861b4782f35d43fd98fe1a2d39")
    );
}

#[test]
fn ms_nlmp_4_2_4_sealed_plaintext_and_signature() {
    let mut client = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let w = client.wrap(&plaintext_utf16()).unwrap();
    assert_eq!(w.data, h("54e50165bf1936dc996020c1811b0f06fb5f"));
    assert_eq!(w.header, h("010000007fb38ec5c55d497600000000"));
    assert_eq!(w.padding, 0);
    assert_eq!(client.sequence_numbers(), (1, 0));
    // The server side of the same keys unseals and verifies it.
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    assert_eq!(server.unwrap(&w.header, &w.data).unwrap(), plaintext_utf16());
}

fn spec_acceptor() -> NtlmAcceptor {
    let mut users = UserTable::new();
    users.add("Domain", "User", "Password");
    NtlmAcceptor::new(
        Arc::new(users),
        AcceptorConfig {
            netbios_domain: "Domain".into(),
            netbios_computer: "Server".into(),
            ..Default::default()
        },
        fixed_rng(SERVER_CHALLENGE.to_vec()),
        0,
    )
}

#[test]
fn ms_nlmp_4_2_4_authenticate_is_accepted_by_our_acceptor() {
    // The spec's CHALLENGE has no MsvAvTimestamp, and its AUTHENTICATE no MIC.
    let mut acc = spec_acceptor().without_timestamp();
    let Step::Continue(challenge) = acc.step(&negotiate(CLIENT_FLAGS)).unwrap() else {
        panic!("no challenge")
    };
    assert_eq!(&challenge[24..32], &SERVER_CHALLENGE);
    assert!(parse_challenge(&challenge).unwrap().timestamp().is_none());
    assert_eq!(acc.step(&h(AUTHENTICATE_4_2_4)).unwrap(), Step::Done(None));
    assert_eq!(acc.user(), Some(("Domain".into(), "User".into())));
    // The exported session key recovered from the key exchange is 0x55..: the spec's sealed
    // message from the client verifies.
    let mut sess = acc.into_session().unwrap();
    let plain = sess
        .unwrap(
            &h("010000007fb38ec5c55d497600000000"),
            &h("54e50165bf1936dc996020c1811b0f06fb5f"),
        )
        .unwrap();
    assert_eq!(plain, plaintext_utf16());
}

/// [MS-NLMP 3.1.5.1.2]: a client that received MsvAvTimestamp provides a MIC, so after a
/// CHALLENGE with one (ours always has one) an AUTHENTICATE without a MIC is refused, even
/// with a valid NTLMv2 proof (the spec's message proves the password).
#[test]
fn authenticate_without_mic_after_a_timestamp_is_refused() {
    let mut acc = spec_acceptor();
    let Step::Continue(challenge) = acc.step(&negotiate(CLIENT_FLAGS)).unwrap() else {
        panic!("no challenge")
    };
    assert!(parse_challenge(&challenge).unwrap().timestamp().is_some());
    let err = acc.step(&h(AUTHENTICATE_4_2_4)).unwrap_err();
    assert!(
        matches!(&err, Error::BadSignature(m) if m.contains("MsvAvTimestamp") && m.contains("mic")),
        "{err}"
    );
    assert!(acc.user().is_none());
    assert!(acc.into_session().is_none());
}

/// Neither the parsed AUTHENTICATE nor the handshake step carrying it prints the NTLMv2
/// response (or the LM response, key or MIC) in `Debug`.
#[test]
fn debug_redacts_the_ntlmv2_response() {
    let bytes = h(AUTHENTICATE_4_2_4);
    let a = Authenticate::parse(&bytes).unwrap();
    // The NTProofStr 68cd0ab8..., LMv2 86c35097..., encrypted key c5dad254... as Debug prints bytes.
    let secrets = ["104, 205, 10, 184", "134, 195, 80, 151", "197, 218, 210, 84"];
    let dbg = format!("{a:?}");
    for s in secrets {
        assert!(!dbg.contains(s), "{dbg}");
    }
    assert!(dbg.contains("nt_response: \"<redacted, 84 bytes>\""), "{dbg}");
    assert!(
        dbg.contains("user: \"User\"") && dbg.contains("flags: 0xe2888235"),
        "{dbg}"
    );
    let step = Step::Done(Some(bytes.clone()));
    let dbg = format!("{step:?} {:?}", Step::Continue(bytes.clone()));
    for s in secrets {
        assert!(!dbg.contains(s), "{dbg}");
    }
    assert_eq!(
        dbg,
        format!(
            "Done(Some(\"<token, {n} bytes>\")) Continue(\"<token, {n} bytes>\")",
            n = bytes.len()
        )
    );
}

#[test]
fn ms_nlmp_4_2_4_authenticate_parses() {
    let a = Authenticate::parse(&h(AUTHENTICATE_4_2_4)).unwrap();
    assert_eq!(
        (a.domain.as_str(), a.user.as_str(), a.workstation.as_str()),
        ("Domain", "User", "COMPUTER")
    );
    assert_eq!(a.encrypted_session_key, h("c5dad2544fc9799094ce1ce90bc9d03e"));
    assert_eq!(a.flags, 0xe288_8235);
    assert_eq!(a.mic, None); // payload starts at 72: no MIC
}

struct Pair {
    client: NtlmClient,
    acceptor: NtlmAcceptor,
}

/// The acceptor of host HV01 in domain HVLAB (hvlab.example).
fn hvlab_acceptor(users: UserTable, server_cb: Option<&[u8]>) -> NtlmAcceptor {
    let config = AcceptorConfig {
        netbios_domain: "HVLAB".into(),
        netbios_computer: "HV01".into(),
        dns_domain: "hvlab.example".into(),
        dns_computer: "hv01.hvlab.example".into(),
        expected_channel_bindings: server_cb.map(|d| ChannelBindings::new(d.to_vec())),
    };
    NtlmAcceptor::new(Arc::new(users), config, counter_rng(1), 133_000_000_000_000_000)
}

fn pair(client_pw: &str, client_cb: Option<&[u8]>, server_cb: Option<&[u8]>) -> Pair {
    let mut users = UserTable::new();
    users.add("HVLAB", "Administrator", "Secr3t!");
    let acceptor = hvlab_acceptor(users, server_cb);
    let client = NtlmClient::new(
        Credentials::parse("HVLAB\\Administrator", client_pw),
        ClientConfig {
            workstation: "LINUXBOX".into(),
            target_spn: Some("HTTP/hv01.hvlab.example".into()),
            channel_bindings: client_cb.map(|d| ChannelBindings::new(d.to_vec())),
            require_seal: true,
        },
        counter_rng(2),
        1,
    );
    Pair { client, acceptor }
}

/// Runs the handshake; returns the three messages or the acceptor's error.
/// NEGOTIATE, CHALLENGE, AUTHENTICATE.
type Messages = (Vec<u8>, Vec<u8>, Vec<u8>);

fn handshake(p: &mut Pair) -> Result<Messages, Error> {
    let Step::Continue(neg) = p.client.step(None)? else {
        panic!("no negotiate")
    };
    let Step::Continue(chal) = p.acceptor.step(&neg)? else {
        panic!("no challenge")
    };
    let Step::Done(Some(auth)) = p.client.step(Some(&chal))? else {
        panic!("no authenticate")
    };
    assert_eq!(p.acceptor.step(&auth)?, Step::Done(None));
    p.client.finish(None)?;
    Ok((neg, chal, auth))
}

#[test]
fn handshake_then_sealed_messages_both_ways_with_sequence_numbers() {
    let mut p = pair("Secr3t!", None, None);
    let (neg, _chal, auth) = handshake(&mut p).unwrap();
    assert_eq!(p.client.scheme(), "Negotiate");
    assert_eq!(u32::from_le_bytes(neg[12..16].try_into().unwrap()), CLIENT_FLAGS);
    let parsed = Authenticate::parse(&auth).unwrap();
    assert!(parsed.mic.is_some_and(|m| m != [0; 16]));
    assert_eq!(
        parsed.lm_response,
        vec![0; 24],
        "server sent a timestamp: LM is Z(24)"
    );
    assert_eq!(p.acceptor.user(), Some(("HVLAB".into(), "Administrator".into())));
    let mut server = p.acceptor.into_session().unwrap();
    let client = p.client.session().unwrap();
    assert_eq!(client.protocol(), "application/HTTP-SPNEGO-session-encrypted");
    assert_eq!(server.protocol(), "application/HTTP-SPNEGO-session-encrypted");
    for i in 0u32..5 {
        let req = format!("<request n='{i}'/>").into_bytes();
        let w = client.wrap(&req).unwrap();
        assert_ne!(w.data, req);
        assert_eq!(&w.header[12..16], &i.to_le_bytes(), "client sequence number");
        assert_eq!(server.unwrap(&w.header, &w.data).unwrap(), req);
        let resp = format!("<response n='{i}'/>").into_bytes();
        let w = server.wrap(&resp).unwrap();
        assert_eq!(&w.header[12..16], &i.to_le_bytes(), "server sequence number");
        assert_eq!(client.unwrap(&w.header, &w.data).unwrap(), resp);
    }
}

#[test]
fn framing_round_trip_over_an_ntlm_session() {
    let mut p = pair("Secr3t!", None, None);
    handshake(&mut p).unwrap();
    let mut server = p.acceptor.into_session().unwrap();
    let client = p.client.session().unwrap();
    let soap = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>";
    let (ct, body) = crate::framing::encode(client, soap).unwrap();
    assert_eq!(&body[body.len() - 24..], b"--Encrypted Boundary--\r\n");
    assert!(
        body.windows(4).any(|w| w == [0x10, 0, 0, 0]),
        "signature length 16 LE"
    );
    assert_eq!(crate::framing::decode(server.as_mut(), &ct, &body).unwrap(), soap);
}

#[test]
fn tampered_data_header_and_replays_are_rejected() {
    for tamper in 0..3 {
        let mut p = pair("Secr3t!", None, None);
        handshake(&mut p).unwrap();
        let mut server = p.acceptor.into_session().unwrap();
        let client = p.client.session().unwrap();
        let w = client.wrap(b"<payload/>").unwrap();
        let (mut header, mut data) = (w.header.clone(), w.data.clone());
        match tamper {
            0 => data[3] ^= 0x01,
            1 => header[5] ^= 0x80,
            _ => header[12] = 7, // wrong sequence number
        }
        let err = server.unwrap(&header, &data).unwrap_err();
        assert!(matches!(err, Error::BadSignature(_)), "{err}");
        // The context is unusable afterwards: even the genuine message is refused.
        assert!(server.unwrap(&w.header, &w.data).is_err());
    }
    // A replayed message fails: the sequence number has moved on.
    let mut p = pair("Secr3t!", None, None);
    handshake(&mut p).unwrap();
    let mut server = p.acceptor.into_session().unwrap();
    let client = p.client.session().unwrap();
    let w = client.wrap(b"<once/>").unwrap();
    assert_eq!(server.unwrap(&w.header, &w.data).unwrap(), b"<once/>");
    assert!(matches!(
        server.unwrap(&w.header, &w.data),
        Err(Error::BadSignature(_))
    ));
}

#[test]
fn wrong_password_is_authentication_failed() {
    let mut p = pair("wrong", None, None);
    let err = handshake(&mut p).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("wrong password")),
        "{err}"
    );
    assert!(p.acceptor.user().is_none());
    assert!(p.acceptor.into_session().is_none());
}

#[test]
fn unknown_user_and_domain_are_rejected() {
    let mut p = pair("Secr3t!", None, None);
    p.client.creds = Credentials::parse("OTHER\\Administrator", "Secr3t!");
    assert!(matches!(handshake(&mut p), Err(Error::AuthenticationFailed(_))));
    let mut p = pair("Secr3t!", None, None);
    p.client.creds = Credentials::parse("HVLAB\\nobody", "Secr3t!");
    assert!(matches!(handshake(&mut p), Err(Error::AuthenticationFailed(_))));
    // UPN form and case differences in the user name are accepted.
    let mut p = pair("Secr3t!", None, None);
    p.client.creds = Credentials::parse("administrator@hvlab.example", "Secr3t!");
    handshake(&mut p).unwrap();
    assert_eq!(
        p.acceptor.user(),
        Some(("".into(), "administrator@hvlab.example".into()))
    );
}

/// The account-name mapping documented on the acceptor's table lookup: UPNs by realm, an
/// empty domain as this host's own domain, a stored empty domain as a local account.
#[test]
fn upn_and_empty_domain_map_to_accounts_deliberately() {
    let table = || {
        let mut users = UserTable::new();
        users.add("HVLAB", "Administrator", "Secr3t!");
        users.add("OTHER", "bob", "Secr3t!");
        users.add("", "local", "Secr3t!");
        users
    };
    let cases = [
        ("administrator@hvlab.example", true),
        ("Administrator@HVLAB", true),
        ("administrator@other.example", false),
        ("Administrator", true),
        ("hvlab.example\\Administrator", true),
        ("bob", false),
        ("OTHER\\bob", true),
        ("bob@other", true),
        ("bob@hvlab.example", false),
        ("local", true),
        ("HV01\\local", true),
        ("local@hv01.hvlab.example", true),
        ("OTHER\\local", false),
        ("local@other.example", false),
    ];
    for (name, accepted) in cases {
        let mut p = pair("Secr3t!", None, None);
        p.acceptor = hvlab_acceptor(table(), None);
        p.client.creds = Credentials::parse(name, "Secr3t!");
        match handshake(&mut p) {
            Ok(_) => {
                assert!(accepted, "{name} must be refused");
                // The names are reported as sent.
                let c = &p.client.creds;
                assert_eq!(p.acceptor.user(), Some((c.domain().into(), c.user().into())));
            }
            Err(e) => {
                assert!(!accepted, "{name} must be accepted: {e}");
                assert!(
                    matches!(&e, Error::AuthenticationFailed(m) if m.contains("unknown user")),
                    "{name}: {e}"
                );
            }
        }
    }
}

/// MsvAvTargetName, when sent, must name this host ([MS-NLMP 3.2.5.1.2]); a name for another
/// host is an authentication relayed from there.
#[test]
fn target_name_must_name_this_host() {
    let cases = [
        (Some("HTTP/hv01.hvlab.example"), true),
        (Some("HTTP/HV01.HVLAB.EXAMPLE:5985"), true),
        (Some("WSMAN/hv01"), true),
        (Some("host/hv01.hvlab.example/hvlab.example"), true),
        (Some("HTTP/127.0.0.1"), true),
        (Some("HTTP/localhost"), true),
        (Some("HTTP/[::1]:5985"), true),
        (Some("HTTP/alias.hvlab.example"), true), // added with accept_target_host
        (Some(""), true),
        (None, true),
        (Some("HTTP/hv02.hvlab.example"), false),
        (Some("HTTP/10.0.0.7"), false),
        (Some("hv01.hvlab.example"), false),
        (Some("HTTP/"), false),
    ];
    for (spn, accepted) in cases {
        let mut p = pair("Secr3t!", None, None);
        let mut users = UserTable::new();
        users.add("HVLAB", "Administrator", "Secr3t!");
        p.acceptor = hvlab_acceptor(users, None).accept_target_host("alias.hvlab.example");
        p.client.config.target_spn = spn.map(str::to_owned);
        match handshake(&mut p) {
            Ok(_) => assert!(accepted, "{spn:?} must be refused"),
            Err(e) => {
                assert!(!accepted, "{spn:?} must be accepted: {e}");
                assert!(
                    matches!(&e, Error::AuthenticationFailed(m) if m.contains("MsvAvTargetName")),
                    "{spn:?}: {e}"
                );
                assert!(p.acceptor.user().is_none());
            }
        }
    }
}

#[test]
fn tampered_mic_is_rejected() {
    let mut p = pair("Secr3t!", None, None);
    let Step::Continue(neg) = p.client.step(None).unwrap() else {
        panic!()
    };
    let Step::Continue(chal) = p.acceptor.step(&neg).unwrap() else {
        panic!()
    };
    let Step::Done(Some(mut auth)) = p.client.step(Some(&chal)).unwrap() else {
        panic!()
    };
    auth[MIC_OFFSET + 3] ^= 0x40;
    let err = p.acceptor.step(&auth).unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)), "{err}");
    // A NEGOTIATE altered in transit (a flag dropped) also breaks the MIC.
    let mut p = pair("Secr3t!", None, None);
    let Step::Continue(mut neg) = p.client.step(None).unwrap() else {
        panic!()
    };
    neg[12] &= !0x04; // REQUEST_TARGET
    let Step::Continue(chal) = p.acceptor.step(&neg).unwrap() else {
        panic!()
    };
    let Step::Done(Some(auth)) = p.client.step(Some(&chal)).unwrap() else {
        panic!()
    };
    assert!(matches!(p.acceptor.step(&auth), Err(Error::BadSignature(_))));
}

#[test]
fn channel_bindings_must_match_when_required() {
    let cb = b"tls-server-end-point:0123456789abcdef0123456789abcdef";
    // Match.
    let mut p = pair("Secr3t!", Some(cb), Some(cb));
    handshake(&mut p).unwrap();
    // Mismatch.
    let mut p = pair("Secr3t!", Some(b"tls-server-end-point:other"), Some(cb));
    let err = handshake(&mut p).unwrap_err();
    assert!(
        matches!(&err, Error::AuthenticationFailed(m) if m.contains("channel bindings")),
        "{err}"
    );
    // Missing (zeros sent).
    let mut p = pair("Secr3t!", None, Some(cb));
    assert!(matches!(handshake(&mut p), Err(Error::AuthenticationFailed(_))));
    // Not required: the client's bindings are ignored.
    let mut p = pair("Secr3t!", Some(cb), None);
    handshake(&mut p).unwrap();
}

#[test]
fn authenticate_target_info_carries_flags_bindings_and_spn() {
    let cb = ChannelBindings::new(b"tls-server-end-point:xyz".to_vec());
    let mut p = pair("Secr3t!", Some(b"tls-server-end-point:xyz"), None);
    let (_, _, auth) = handshake(&mut p).unwrap();
    let a = Authenticate::parse(&auth).unwrap();
    let av = parse_av_pairs(&a.nt_response[16 + 28..]).unwrap();
    let get = |id| av.iter().find(|(i, _)| *i == id).map(|(_, v)| v.to_vec());
    assert_eq!(get(AV_FLAGS), Some(2u32.to_le_bytes().to_vec()));
    assert_eq!(get(AV_CHANNEL_BINDINGS), Some(cb.md5().to_vec()));
    assert_eq!(get(0x0009), Some(crypto::utf16le("HTTP/hv01.hvlab.example")));
    assert_eq!(
        get(AV_TIMESTAMP),
        Some(133_000_000_000_000_000u64.to_le_bytes().to_vec())
    );
    assert_eq!(get(AV_NB_DOMAIN), Some(crypto::utf16le("HVLAB")));
    assert_eq!((a.workstation.as_str(), a.domain.as_str()), ("LINUXBOX", "HVLAB"));
}

#[test]
fn key_exchange_never_sends_the_session_base_key() {
    // Client RNG: client challenge 0xaa.., then exported session key 0x55...
    let mut users = UserTable::new();
    users.add("Domain", "User", "Password");
    let mut acc = NtlmAcceptor::new(
        Arc::new(users),
        AcceptorConfig::default(),
        fixed_rng(SERVER_CHALLENGE.to_vec()),
        0,
    );
    let rng = [CLIENT_CHALLENGE.to_vec(), RANDOM_SESSION_KEY.to_vec()].concat();
    let mut client = NtlmClient::new(
        Credentials::new("Domain", "User", "Password"),
        ClientConfig::default(),
        fixed_rng(rng),
        0,
    );
    let Step::Continue(neg) = client.step(None).unwrap() else {
        panic!()
    };
    let Step::Continue(chal) = acc.step(&neg).unwrap() else {
        panic!()
    };
    let Step::Done(Some(auth)) = client.step(Some(&chal)).unwrap() else {
        panic!()
    };
    let a = Authenticate::parse(&auth).unwrap();
    let key = crypto::ntowfv2("Password", "User", "Domain");
    let proof: [u8; 16] = a.nt_response[..16].try_into().unwrap();
    let base = crypto::hmac_md5(key.as_slice(), &[&proof]);
    assert_ne!(a.encrypted_session_key, base.to_vec());
    assert_eq!(
        a.encrypted_session_key,
        crypto::rc4_oneshot(&base, &RANDOM_SESSION_KEY)
    );
    // And the client challenge is the injected one.
    assert_eq!(&a.nt_response[16 + 16..16 + 24], &CLIENT_CHALLENGE);
    assert_eq!(acc.step(&auth).unwrap(), Step::Done(None));
    // Both sides derived keys from 0x55..: the spec vector's client seal applies.
    let w = client.session().unwrap().wrap(&plaintext_utf16()).unwrap();
    assert_eq!(w.data, h("54e50165bf1936dc996020c1811b0f06fb5f"));
    assert_eq!(w.header, h("010000007fb38ec5c55d497600000000"));
}

#[test]
fn client_state_machine_misuse_is_an_error() {
    let mut p = pair("Secr3t!", None, None);
    assert!(matches!(p.client.step(Some(b"x")), Err(Error::InvalidState(_))));
    let mut p = pair("Secr3t!", None, None);
    assert!(p.client.session().is_none());
    assert!(matches!(p.client.finish(None), Err(Error::InvalidState(_))));
    p.client.step(None).unwrap();
    let err = p.client.step(Some(b"NTLMSSP\0\x02\0\0\0garbage")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Malformed {
                what: "challenge message",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(p.client.step(None), Err(Error::InvalidState(_))));
    let c = NtlmClient::new(
        Credentials::parse("u", "p"),
        ClientConfig::default(),
        counter_rng(0),
        0,
    )
    .with_scheme("NTLM");
    assert_eq!(c.scheme(), "NTLM");
}

#[test]
fn credentials_parse_and_debug_hide_the_password() {
    let c = Credentials::parse("CORP\\alice", "hunter2");
    assert_eq!((c.domain(), c.user()), ("CORP", "alice"));
    let c = Credentials::parse("alice@corp.example", "hunter2");
    assert_eq!((c.domain(), c.user()), ("", "alice@corp.example"));
    let c = Credentials::parse("alice", "hunter2");
    assert_eq!((c.domain(), c.user()), ("", "alice"));
    assert!(!format!("{c:?}").contains("hunter2"));
    let mut p = pair("Secr3t!", None, None);
    handshake(&mut p).unwrap();
    let dbg = format!("{:?} {:?}", p.client, p.acceptor);
    assert!(!dbg.contains("Secr3t!"), "{dbg}");
    let mut users = UserTable::new();
    users.add("D", "u", "Secr3t!");
    assert_eq!(format!("{users:?}"), "[\"D\\\\u\"]");
}

#[test]
fn challenge_without_timestamp_uses_injected_time_and_lmv2() {
    let ti = h(TARGET_INFO);
    let chal = challenge(FLAGS_4_2_4, "Domain", &SERVER_CHALLENGE, &ti);
    let mut client = NtlmClient::new(
        Credentials::new("Domain", "User", "Password"),
        ClientConfig::default(),
        fixed_rng([CLIENT_CHALLENGE.to_vec(), RANDOM_SESSION_KEY.to_vec()].concat()),
        0x0102_0304_0506_0708,
    );
    client.step(None).unwrap();
    let Step::Done(Some(auth)) = client.step(Some(&chal)).unwrap() else {
        panic!()
    };
    let a = Authenticate::parse(&auth).unwrap();
    assert_eq!(
        &a.nt_response[16 + 8..16 + 16],
        &0x0102_0304_0506_0708u64.to_le_bytes()
    );
    // LMv2 over the spec's inputs is the spec's LMv2 response.
    assert_eq!(
        a.lm_response,
        h("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    );
}

/// The spec's target info with an MsvAvFlags pair of 2 bytes (not the 4 of [MS-NLMP 2.2.2.1])
/// before the terminator.
fn target_info_with_short_flags() -> Vec<u8> {
    let mut ti = h(TARGET_INFO);
    ti.truncate(ti.len() - 4);
    ti.extend_from_slice(&[0x06, 0x00, 0x02, 0x00, 0x02, 0x00, 0, 0, 0, 0]);
    ti
}

/// A short MsvAvFlags in the CHALLENGE is refused, not read as "no flags".
#[test]
fn challenge_with_a_short_msv_av_flags_is_malformed() {
    let chal = challenge(
        FLAGS_4_2_4,
        "Domain",
        &SERVER_CHALLENGE,
        &target_info_with_short_flags(),
    );
    let mut client = NtlmClient::new(
        Credentials::new("Domain", "User", "Password"),
        ClientConfig::default(),
        fixed_rng([CLIENT_CHALLENGE.to_vec(), RANDOM_SESSION_KEY.to_vec()].concat()),
        0,
    );
    client.step(None).unwrap();
    let err = client.step(Some(&chal)).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { what: "challenge message", detail } if detail.contains("MsvAvFlags")),
        "{err}"
    );
}

/// A short MsvAvFlags in the AUTHENTICATE is refused, even with a valid NTLMv2 proof over it:
/// read as "no flags" it would turn the MIC check off.
#[test]
fn authenticate_with_a_short_msv_av_flags_is_malformed() {
    let mut acc = spec_acceptor().without_timestamp();
    let Step::Continue(chal) = acc.step(&negotiate(CLIENT_FLAGS)).unwrap() else {
        panic!("no challenge")
    };
    let chal = parse_challenge(&chal).unwrap();
    let key = crypto::ntowfv2("Password", "User", "Domain");
    let resp = crypto::ntlmv2_response(
        &key,
        &chal.server_challenge,
        &CLIENT_CHALLENGE,
        0,
        &target_info_with_short_flags(),
        false,
    );
    let auth = Authenticate {
        lm_response: resp.lm_response,
        nt_response: resp.nt_response,
        domain: "Domain".into(),
        user: "User".into(),
        workstation: "WS".into(),
        encrypted_session_key: crypto::rc4_oneshot(&resp.session_base_key, &RANDOM_SESSION_KEY),
        flags: chal.flags,
        mic: None,
    };
    let err = acc.step(&auth.to_bytes().unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { what: "authenticate message", detail } if detail.contains("MsvAvFlags")),
        "{err}"
    );
    assert!(acc.user().is_none());
}

#[test]
fn challenge_without_128_bit_key_exchange_sign_or_seal_is_refused() {
    for (flag, name) in [
        (NEGOTIATE_128, "NTLMSSP_NEGOTIATE_128"),
        (NEGOTIATE_KEY_EXCH, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
        (NEGOTIATE_SIGN, "NTLMSSP_NEGOTIATE_SIGN"),
        (NEGOTIATE_SEAL, "NTLMSSP_NEGOTIATE_SEAL"),
    ] {
        // The spec's CHALLENGE flags grant all four (and NEGOTIATE_56): drop one.
        let chal = challenge(FLAGS_4_2_4 & !flag, "Domain", &SERVER_CHALLENGE, &h(TARGET_INFO));
        let mut client = NtlmClient::new(
            Credentials::new("Domain", "User", "Password"),
            ClientConfig::default(),
            fixed_rng(CLIENT_CHALLENGE.to_vec()),
            0,
        );
        client.step(None).unwrap();
        let err = client.step(Some(&chal)).unwrap_err();
        assert!(
            matches!(&err, Error::AuthenticationFailed(m) if m.contains(name)),
            "{name}: {err}"
        );
        assert!(client.session().is_none(), "{name}: no session");
        assert!(matches!(client.finish(None), Err(Error::InvalidState(_))));
    }
}

/// Without message encryption (HTTPS: TLS protects the messages) SIGN and SEAL are not
/// needed: a CHALLENGE without them is accepted, and the session refuses to seal. 128-bit keys
/// and key exchange are required either way.
#[test]
fn without_sealing_only_128_bit_keys_and_key_exchange_are_required() {
    let client_for = |flags: u32| {
        let chal = challenge(flags, "Domain", &SERVER_CHALLENGE, &h(TARGET_INFO));
        let mut client = NtlmClient::new(
            Credentials::new("Domain", "User", "Password"),
            ClientConfig {
                require_seal: false,
                ..ClientConfig::default()
            },
            fixed_rng([CLIENT_CHALLENGE.to_vec(), RANDOM_SESSION_KEY.to_vec()].concat()),
            0,
        );
        client.step(None).unwrap();
        let step = client.step(Some(&chal));
        (client, step)
    };
    for (flag, name) in [
        (NEGOTIATE_128, "NTLMSSP_NEGOTIATE_128"),
        (NEGOTIATE_KEY_EXCH, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
    ] {
        let (client, step) = client_for(FLAGS_4_2_4 & !flag);
        let err = step.unwrap_err();
        assert!(
            matches!(&err, Error::AuthenticationFailed(m) if m.contains(name)),
            "{name}: {err}"
        );
        assert!(client.session.is_none(), "{name}: no session");
    }
    let (mut client, step) = client_for(FLAGS_4_2_4 & !(NEGOTIATE_SIGN | NEGOTIATE_SEAL));
    let Step::Done(Some(auth)) = step.unwrap() else {
        panic!("the handshake did not complete")
    };
    let a = Authenticate::parse(&auth).unwrap();
    assert_eq!(
        a.flags & (NEGOTIATE_SIGN | NEGOTIATE_SEAL),
        0,
        "not asked for in AUTHENTICATE"
    );
    client.finish(None).unwrap();
    let sec = client.session().expect("an established context");
    assert!(
        matches!(sec.wrap(b"x"), Err(Error::InvalidState(m)) if m.contains("sealing was not negotiated")),
        "a context without SEAL does not seal"
    );
}

/// The session layer still handles a context without key exchange (the acceptor can meet one):
/// the SessionBaseKey keys it and the checksum is not RC4-encrypted.
#[test]
fn session_without_key_exchange_signs_with_the_raw_checksum() {
    let flags = FLAGS_4_2_4 & !NEGOTIATE_KEY_EXCH;
    let base = h16("8de40ccadbc14a82f15cb0ad0de95ca3");
    let mut client = NtlmSession::new(&base, flags, true);
    let mut server = NtlmSession::new(&base, flags, false);
    let w = client.wrap(b"no key exchange").unwrap();
    assert_eq!(server.unwrap(&w.header, &w.data).unwrap(), b"no key exchange");
    let sign_key = crypto::sign_key(&base, false);
    let w = server.wrap(b"reply").unwrap();
    let mac = crypto::hmac_md5(sign_key.as_slice(), &[&0u32.to_le_bytes(), b"reply"]);
    assert_eq!(&w.header[4..12], &mac[..8]);
    assert_eq!(client.unwrap(&w.header, &w.data).unwrap(), b"reply");
}

#[test]
fn ms_nlmp_4_2_4_vectors_in_place() {
    let mut client = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    assert_eq!(client.in_place_header_len(), Some(16));
    let mut data = plaintext_utf16();
    let mut header = [0u8; 16];
    client.wrap_in_place(&mut header, &mut data).unwrap();
    assert_eq!(data, h("54e50165bf1936dc996020c1811b0f06fb5f"));
    assert_eq!(header.to_vec(), h("010000007fb38ec5c55d497600000000"));
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    let mut out = b"kept".to_vec();
    server.unwrap_into(&header, &data, &mut out).unwrap();
    assert_eq!(out, [&b"kept"[..], &plaintext_utf16()].concat());
    assert_eq!(server.sequence_numbers(), (0, 1));
    // A 17-byte signature buffer is refused without consuming a sequence number.
    let err = client.wrap_in_place(&mut [0u8; 17], &mut data).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err}");
    assert_eq!(client.sequence_numbers(), (1, 0));
}

#[test]
fn unwrap_into_leaves_output_untouched_when_the_signature_fails() {
    let mut client = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    let w = client.wrap(b"<secret-ish/>").unwrap();
    let mut data = w.data.clone();
    data[0] ^= 1;
    let mut out = b"before".to_vec();
    let err = server.unwrap_into(&w.header, &data, &mut out).unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)), "{err}");
    assert_eq!(out, b"before");
    // The context is unusable afterwards, in place or not.
    let err = server.unwrap_into(&w.header, &w.data, &mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err}");
    assert_eq!(out, b"before");
    // Nor does it seal any more.
    let mut header = [0u8; 16];
    assert!(matches!(
        server.wrap_in_place(&mut header, &mut data),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(header, [0; 16]);
}

/// The framing as `framing::encode` wrote it before `encode_into` (format! per line, sealing
/// through `wrap`), kept here to prove the bytes did not change.
fn reference_encode(sec: &mut dyn SessionSecurity, soap: &[u8]) -> Vec<u8> {
    let protocol = sec.protocol();
    let w = sec.wrap(soap).unwrap();
    let b = crate::framing::BOUNDARY;
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{b}\r\n").as_bytes());
    body.extend_from_slice(format!("\tContent-Type: {protocol}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={}\r\n",
            soap.len() + w.padding
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{b}\r\n").as_bytes());
    body.extend_from_slice(b"\tContent-Type: application/octet-stream\r\n");
    body.extend_from_slice(&(w.header.len() as u32).to_le_bytes());
    body.extend_from_slice(&w.header);
    body.extend_from_slice(&w.data);
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    body
}

/// SOAP-looking bytes of length `len`.
fn soap_of(len: usize) -> Vec<u8> {
    b"<p:ElementName>vm-0042 &amp; friends</p:ElementName>"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn encode_into_is_byte_identical_to_the_reference_encoding() {
    // Two clients with the same keys: one frames the old way, one the new way.
    let mut old = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let mut new = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    for len in [0, 1, 9, 63, 64, 65, 1423, 2153, 3408, 65536, 100_000] {
        let soap = soap_of(len);
        let want = reference_encode(&mut old, &soap);
        let (ct, body) = crate::framing::encode(&mut new, &soap).unwrap();
        assert_eq!(body, want, "encode, length {len}");
        assert_eq!(
            ct,
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\""
        );
        assert_eq!(crate::framing::decode(&mut server, &ct, &body).unwrap(), soap);
        // encode_into appends to what is already in the buffer.
        let want = reference_encode(&mut old, &soap);
        let mut buf = b"prefix".to_vec();
        crate::framing::encode_into(&mut new, &soap, &mut buf).unwrap();
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(&buf[6..], &want[..], "encode_into, length {len}");
        let mut out = b"x".to_vec();
        crate::framing::decode_into(&mut server, &ct, &buf[6..], &mut out).unwrap();
        assert_eq!(out, [&b"x"[..], &soap].concat());
    }
}

#[test]
fn framing_in_place_round_trips_with_the_acceptor_both_ways() {
    let mut p = pair("Secr3t!", None, None);
    handshake(&mut p).unwrap();
    let mut server = p.acceptor.into_session().unwrap();
    let client = p.client.session().unwrap();
    let ct = crate::framing::content_type(client.protocol());
    let mut body = Vec::new();
    let mut plain = Vec::new();
    for (i, len) in [1423usize, 3408, 2153, 1621, 0, 70_000].into_iter().enumerate() {
        let req = soap_of(len);
        body.clear();
        // Alternate the new and the old entry points: they share the sequence numbers.
        if i % 2 == 0 {
            crate::framing::encode_into(client, &req, &mut body).unwrap();
        } else {
            body = crate::framing::encode(client, &req).unwrap().1;
        }
        plain.clear();
        crate::framing::decode_into(server.as_mut(), &ct, &body, &mut plain).unwrap();
        assert_eq!(plain, req, "request {i}");
        let resp = soap_of(len / 2 + 7);
        body.clear();
        crate::framing::encode_into(server.as_mut(), &resp, &mut body).unwrap();
        let got = if i % 2 == 0 {
            crate::framing::decode(client, &ct, &body).unwrap()
        } else {
            let mut out = Vec::new();
            crate::framing::decode_into(client, &ct, &body, &mut out).unwrap();
            out
        };
        assert_eq!(got, resp, "response {i}");
    }
    assert_eq!(client.protocol(), "application/HTTP-SPNEGO-session-encrypted");
}

#[test]
fn decode_into_keeps_the_output_on_a_tampered_or_mislabelled_part() {
    let mut client = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let ct = crate::framing::content_type(SPNEGO_PROTOCOL);
    // Two parts: the first verifies, the second is tampered; nothing may come out.
    let first = crate::framing::encode(&mut client, b"<first/>").unwrap().1;
    let mut second = crate::framing::encode(&mut client, b"<second/>").unwrap().1;
    let n = second.len();
    second[n - 26] ^= 0x40; // last sealed byte
    let body = [&first[..first.len() - 24], &second[..]].concat();
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    let mut out = b"earlier".to_vec();
    let err = crate::framing::decode_into(&mut server, &ct, &body, &mut out).unwrap_err();
    assert!(matches!(err, Error::BadSignature(_)), "{err}");
    assert_eq!(out, b"earlier");
    // A Length that disagrees with a part that verifies: an error, and the output is kept.
    let mut client = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, true);
    let mut server = NtlmSession::new(&RANDOM_SESSION_KEY, FLAGS_4_2_4, false);
    let mut body = crate::framing::encode(&mut client, b"<abc/>").unwrap().1;
    let at = body.windows(10).position(|w| w == b"Length=6\r\n").unwrap();
    body[at + 7] = b'5';
    let mut out = b"earlier".to_vec();
    let err = crate::framing::decode_into(&mut server, &ct, &body, &mut out).unwrap_err();
    assert!(err.to_string().contains("announced length 5"), "{err}");
    assert_eq!(out, b"earlier");
}

#[test]
fn filetime_counts_100_ns_ticks_from_1601() {
    use std::time::{Duration, UNIX_EPOCH};
    assert_eq!(filetime(UNIX_EPOCH), 116_444_736_000_000_000);
    // 2026-10-08T15:15:36.6842417Z: whole ticks, the rest of a tick dropped.
    let t = UNIX_EPOCH + Duration::from_secs(1_791_472_536) + Duration::from_nanos(684_241_799);
    assert_eq!(filetime(t), 116_444_736_000_000_000 + 17_914_725_366_842_417);
    assert_eq!(
        filetime(UNIX_EPOCH - Duration::from_secs(5)),
        filetime(UNIX_EPOCH)
    );
}
