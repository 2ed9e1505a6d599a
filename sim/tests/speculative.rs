//! Speculative decoding in scenarios (issue 15 item 2): `[deployment.speculative]` is
//! validated with its field paths, and a run's TPOT moves as the acceptance rate implies:
//! below the plain run's when most drafts are accepted, above it when none is (every
//! step then pays the verify pass and the drafts for one token).

use std::path::Path;
use xpyd_sim::{Scenario, System};

fn scenario(spec: &str) -> Result<Scenario, String> {
    let text = scenario_text(spec);
    Scenario::from_text(Path::new("spec.toml"), Path::new("."), &text, &[])
        .map_err(|e| e.to_string())
}

fn scenario_text(spec: &str) -> String {
    format!(
        r#"
seed = 2
[model]
id = "deepseek-v3"
weights = "fp8"
[hardware]
gpu = "h200"
[deployment]
mode = "disaggregated"
backend = "sglang"
{spec}
[deployment.prefill]
replicas = 1
tp = 8
[deployment.decode]
replicas = 1
tp = 8
[workload]
requests = 300
[workload.arrival]
kind = "closed-loop"
clients = 32
[workload.input-tokens]
kind = "fixed"
tokens = 1000
[workload.output-tokens]
kind = "uniform"
min = 200
max = 400
"#
    )
}

fn tpot_p50(sc: &Scenario) -> f64 {
    let out = xpyd_sim::run(sc, System::Main, &mut |_| {}).unwrap();
    assert_eq!(out.metrics.requests.completed, 300);
    out.metrics.tpot_ms.p50
}

#[test]
fn speculative_fields_are_validated() {
    for (body, field, what) in [
        (
            "method = \"mtp\"\ndraft-tokens = 0\nacceptance = 0.7",
            "deployment.speculative.draft-tokens",
            "[1, 16]",
        ),
        (
            "method = \"mtp\"\ndraft-tokens = 3\nacceptance = 1.5",
            "deployment.speculative.acceptance",
            "[0, 1]",
        ),
        (
            "method = \"mtp\"\ndraft-tokens = 3\nacceptance = [0.9, 1.2, 0.5]",
            "deployment.speculative.acceptance[1]",
            "[0, 1]",
        ),
        (
            "method = \"mtp\"\ndraft-tokens = 3\nacceptance = [0.9, 0.8]",
            "deployment.speculative.acceptance",
            "2 rates for 3 draft tokens",
        ),
    ] {
        let e = scenario(&format!("[deployment.speculative]\n{body}")).unwrap_err();
        assert!(e.contains(field) && e.contains(what), "{e}");
    }
    // MTP needs the model's own MTP layers (DeepSeek-V3 has one; Qwen3-32B none).
    let text = scenario_text(
        "[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 2\nacceptance = 0.5",
    )
    .replace("deepseek-v3", "qwen3-32b")
    .replace("weights = \"fp8\"", "weights = \"bf16\"");
    let e = Scenario::from_text(Path::new("spec.toml"), Path::new("."), &text, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("deployment.speculative.method") && e.contains("num_nextn_predict_layers"),
        "{e}"
    );
    let e = scenario(
        "[deployment.speculative]\nmethod = \"medusa\"\ndraft-tokens = 2\nacceptance = 0.5",
    )
    .unwrap_err();
    assert!(
        e.contains("deployment.speculative") && e.contains("medusa"),
        "{e}"
    );
}

#[test]
fn tpot_moves_with_the_acceptance_rate() {
    let plain = tpot_p50(&scenario("").unwrap());
    let good = tpot_p50(
        &scenario("[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 3\nacceptance = 0.8")
            .unwrap(),
    );
    let none = tpot_p50(
        &scenario("[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 3\nacceptance = 0.0")
            .unwrap(),
    );
    assert!(good < 0.7 * plain, "MTP at 0.8: {good} ms vs {plain} ms");
    assert!(none > plain, "nothing accepted: {none} ms vs {plain} ms");
}

#[test]
fn per_position_acceptance_is_the_chain_of_its_rates() {
    // Rates equal at every position are the single-rate scenario, byte for byte.
    let one =
        scenario("[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 3\nacceptance = 0.8")
            .unwrap();
    let list = scenario(
        "[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 3\nacceptance = [0.8, 0.8, 0.8]",
    )
    .unwrap();
    assert_eq!(one.speculative, list.speculative);
    // Falling rates emit fewer tokens per step than the first rate alone implies, and
    // TPOT follows: 1 + 0.8 + 0.8 * 0.5 + 0.8 * 0.5 * 0.2 = 2.28 tokens against 2.952.
    let falling = scenario(
        "[deployment.speculative]\nmethod = \"mtp\"\ndraft-tokens = 3\nacceptance = [0.8, 0.5, 0.2]",
    )
    .unwrap();
    let e = falling.speculative.unwrap().cost.tokens_per_step();
    assert!((e - 2.28).abs() < 1e-12, "{e}");
    assert!(tpot_p50(&falling) > tpot_p50(&one));
}
