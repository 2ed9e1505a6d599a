//! `xpyd`: simulate and plan prefill/decode-disaggregated LLM serving.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
