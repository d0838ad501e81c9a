//! A whole MONGODB-OIDC human login, the built-in callback's (discovery, a refresh, the
//! authorization code flow, the device flow), with every answer the fuzzer's: the identity
//! provider is the one a MongoDB server names in `IdpInfo`, so a hostile server chooses every
//! reply the login reads. Nothing panics, no wait it asks for is longer than a minute, and a
//! request target the redirect listener passes over (`BrowserLogin::is_redirect`) is one the
//! login would refuse: the listener's check spares the login only requests it could not take.

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::Secret;
use mongodb_auth::ask::Ask;
use mongodb_auth::environment::deadline;
use mongodb_auth::oidc::{FLOW_RANDOM_BYTES, FlowStep, HumanFlow, HumanFlows, HumanLogin, IdpInfo};
use zeroize::Zeroizing;

/// The next answer's bytes: a two-byte length, then that many bytes (what is left, if fewer).
fn next_chunk<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let len = match rest.get(..2) {
        Some(&[high, low]) => usize::from(u16::from_be_bytes([high, low])),
        _ => 0,
    };
    let tail = rest.get(2..).unwrap_or_default();
    let (chunk, after) = tail.split_at(len.min(tail.len()));
    *rest = after;
    chunk
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let flows = if mode & 1 == 0 {
        [HumanFlow::AuthorizationCode, HumanFlow::DeviceAuthorization]
    } else {
        [HumanFlow::DeviceAuthorization, HumanFlow::AuthorizationCode]
    };
    let refresh_token = (mode & 2 != 0).then(|| Secret::new("a refresh token"));
    let idp = IdpInfo::new("https://idp.example").with_client_id("client");
    let Ok((mut login, mut step)) = HumanLogin::start(
        &HumanFlows::new(flows),
        &idp,
        refresh_token,
        [7; FLOW_RANDOM_BYTES],
        Duration::from_secs(300),
    ) else {
        return;
    };
    let mut now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for _ in 0..32 {
        let chunk = next_chunk(&mut rest);
        let next = match step {
            FlowStep::Ask(ask) => {
                // The chunk's first byte chooses a failure or the status; the rest is the body.
                let (&choice, body) = chunk.split_first().unwrap_or((&0, &[]));
                let mut passed_over = false;
                let answer = match &ask {
                    _ if choice == 0xff => ask.fail("the fuzzer says no"),
                    Ask::Http(request) => {
                        let status =
                            [200, 200, 200, 400, 401, 403, 429, 500][usize::from(choice % 8)];
                        request.answer(status, Zeroizing::new(body.to_vec()))
                    }
                    Ask::Browser(browser) => {
                        let target = String::from_utf8_lossy(body);
                        passed_over = !browser.is_redirect(&target);
                        browser.answer(target)
                    }
                    Ask::ShowDeviceCode(code) => code.answer(),
                    other => other.fail("not an ask of the human flows"),
                };
                let next = login.answer(answer, now);
                assert!(
                    !passed_over || next.is_err(),
                    "the listener passes over a redirect the login takes"
                );
                next
            }
            FlowStep::Wait(wait) => {
                // The provider's interval is taken up to a minute, a `slow_down` adds to it up to that.
                assert!(wait <= Duration::from_secs(60), "a wait of {wait:?}");
                now = deadline(now, wait);
                login.waited(now)
            }
            FlowStep::Done(_) => return,
            _ => return,
        };
        match next {
            Ok(next) => step = next,
            Err(_) => return,
        }
    }
});
