//! Multi-turn sessions, warm-up requests and timeouts.

use super::*;

const SESSIONS: &str = r#"
[workload]
requests = 6000
[workload.arrival]
kind = "poisson"
rate-rps = 2
[workload.input-tokens]
kind = "fixed"
tokens = 100
[workload.output-tokens]
kind = "fixed"
tokens = 50
[workload.sessions]
turns-mean = 3.0
turn-gap-s = 5.0
block-tokens = 64
"#;

#[test]
fn sessions_resend_the_context_and_share_its_blocks() {
    let w = workload(SESSIONS);
    assert_eq!(w.rate_rps(), Some(6.0));
    assert!(
        w.describe()
            .ends_with("; sessions of 3 turns on average, 5 s apart"),
        "{}",
        w.describe()
    );
    let r = open_all(&w, 12);
    assert_eq!(r, open_all(&w, 12));
    assert_eq!(r.len(), 6000);
    assert!(r.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    // Turn k sends 100 + 150 (k - 1) tokens: the previous prompt, answer and a new message.
    assert!(r.iter().all(|x| (x.input_tokens - 100) % 150 == 0));
    assert!(r.iter().all(|x| x.hash_block_tokens == 64
        && x.block_hashes.len() == x.input_tokens.div_ceil(64) as usize));
    let first = r.iter().filter(|x| x.input_tokens == 100).count() as f64;
    assert!((first / r.len() as f64 - 1.0 / 3.0).abs() < 0.02, "{first}");
    let rate = r.len() as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 6.0 - 1.0).abs() < 0.05, "{rate}");
    // Every later turn starts with the full blocks of an earlier turn's prompt.
    for (i, x) in r.iter().enumerate().take(800) {
        if x.input_tokens == 100 {
            continue;
        }
        let prev = x.input_tokens - 150;
        let n = (prev / 64) as usize;
        let found = r[..i].iter().rev().any(|y| {
            y.input_tokens == prev
                && y.block_hashes[..n] == x.block_hashes[..n]
                && y.arrival <= x.arrival
        });
        assert!(found, "request {i} continues no earlier turn");
        // The rest of its blocks are new.
        assert!(
            r[..i]
                .iter()
                .all(|y| !y.block_hashes.contains(&x.block_hashes[n]))
        );
    }
}

#[test]
fn sessions_respect_max_input_and_combine_with_prefixes() {
    let capped = workload(&SESSIONS.replace("block-tokens = 64", "max-input-tokens = 400"));
    let r = open_all(&capped, 1);
    assert!(r.iter().all(|x| x.input_tokens <= 400));
    assert!(r.iter().any(|x| x.input_tokens == 400));
    assert!(r.iter().all(|x| x.hash_block_tokens == 512));
    let with_prefix = workload(&format!(
        "{}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 1\ntokens = 128\n\
         block-tokens = 64\n",
        SESSIONS.replace("block-tokens = 64\n", "")
    ));
    let r = open_all(&with_prefix, 1);
    // Turn 1: 128 + 100 tokens; every request starts with the prompt's two blocks.
    assert!(r.iter().all(|x| (x.input_tokens - 228) % 150 == 0));
    assert!(
        r.iter()
            .all(|x| x.block_hashes[..2] == r[0].block_hashes[..2])
    );
    let e = invalid(
        &format!(
            "{SESSIONS}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 1\ntokens = 8\n"
        ),
        Path::new("."),
    );
    assert_eq!(e.field(), "workload.sessions.block-tokens");
    let e = invalid(
        &SESSIONS.replace(
            "kind = \"poisson\"\nrate-rps = 2",
            "kind = \"closed-loop\"\nclients = 4",
        ),
        Path::new("."),
    );
    assert_eq!(e.field(), "workload.sessions");
    let faster = with_prefix
        .with_rate(12.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faster.rate_rps(), Some(12.0));
}

#[test]
fn uncapped_sessions_end_at_the_token_limit() {
    // r18: without max-input-tokens a conversation's prompt grew with every turn; with
    // 6M-token messages the second turn (12M + 50) fits 2^24, the third does not.
    let big = SESSIONS
        .replace("requests = 6000", "requests = 300")
        .replace("tokens = 100", "tokens = 6000000")
        .replace("turns-mean = 3.0", "turns-mean = 50.0")
        .replace("block-tokens = 64", "block-tokens = 65536");
    let r = open_all(&workload(&big), 3);
    assert_eq!(r.len(), 300);
    assert!(
        r.iter()
            .all(|x| x.input_tokens <= crate::limits::MAX_TOKENS)
    );
    assert!(
        r.iter().any(|x| x.input_tokens == 12_000_050),
        "no second turn"
    );
    assert!(
        r.iter()
            .all(|x| [6_000_000, 12_000_050].contains(&x.input_tokens))
    );
}

#[test]
fn warmup_requests_are_issued_on_top_and_timeout_is_validated() {
    let text = POISSON.replace(
        "requests = 2000",
        "requests = 2000\nwarmup-requests = 50\ntimeout-s = 2.5",
    );
    let w = workload(&text);
    assert_eq!(w.requests(), Some(2000));
    assert_eq!(w.warmup_requests(), 50);
    assert_eq!(w.timeout(), Some(SimDuration::from_secs_f64(2.5)));
    let all = open_all(&w, 1);
    assert_eq!(all.len(), 2050, "warm-up requests come on top");
    // The same stream: warm-up is the first 50 of the plain sequence of 2050.
    let plain = workload(&POISSON.replace("requests = 2000", "requests = 2050"));
    assert_eq!(all, open_all(&plain, 1));
    assert!(
        w.describe()
            .ends_with("; 50 warm-up requests first; timeout 2.5 s")
    );
    // Defaults: no warm-up, no timeout; the rate setter keeps both.
    let d = workload(POISSON);
    assert_eq!((d.warmup_requests(), d.timeout()), (0, None));
    let r = w.with_rate(3.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.warmup_requests(), r.timeout()), (50, w.timeout()));
    // A trace's cap counts measured requests; warm-up records are replayed first.
    let t = workload(
        "[workload]\nrequests = 10\nwarmup-requests = 5\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n",
    );
    assert_eq!(open_all(&t, 1).len(), 15);
    for bad in ["0", "-2", "86401", "nan", "inf"] {
        let text = POISSON.replace(
            "requests = 2000",
            &format!("requests = 2000\ntimeout-s = {bad}"),
        );
        let e = invalid(&text, Path::new(".")).to_string();
        assert!(e.starts_with("workload.timeout-s: "), "{bad}: {e}");
        assert!(e.contains("(0, 86400]"), "{e}");
    }
}
