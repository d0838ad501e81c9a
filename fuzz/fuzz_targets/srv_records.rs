//! Arbitrary DNS answers (SRV targets and ports, TXT strings) never panic `resolve_srv`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::random;
use mongodb_auth::{ConnectionString, SrvRecord, TxtRecord};

fuzz_target!(|data: &[u8]| {
    // Layout: URI options line, then records separated by 0xFF; a record starting with `T` is a
    // TXT record (strings separated by 0xFE), anything else an SRV record `port_hi port_lo target`.
    let mut parts = data.split(|&b| b == 0xFF);
    let query = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
    let Ok(cs) = ConnectionString::parse(&format!("mongodb+srv://user:pw@cluster0.example.com/?{query}")) else {
        return;
    };
    let mut srv = Vec::new();
    let mut txt = Vec::new();
    for part in parts {
        match part {
            [b'T', rest @ ..] => txt.push(TxtRecord::new(rest.split(|&b| b == 0xFE).map(<[u8]>::to_vec))),
            [hi, lo, target @ ..] => srv.push(SrvRecord::new(
                String::from_utf8_lossy(target),
                u16::from_be_bytes([*hi, *lo]),
            )),
            _ => {}
        }
    }
    // A deterministic source, so a crash replays.
    let mut state = data.len() as u8;
    let mut deterministic = random::from_fn(move |bytes: &mut [u8]| {
        for byte in bytes {
            state = state.wrapping_mul(31).wrapping_add(7);
            *byte = state;
        }
    });
    if let Ok(resolved) = cs.resolve_srv(&srv, &txt, &mut deterministic) {
        assert!(!resolved.hosts().is_empty());
        assert!(resolved.srv_query().is_none());
        let _ = format!("{resolved} {resolved:?}");
    }
});
