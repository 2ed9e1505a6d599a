//! Synthetic prefix sharing: shared prompts prepended to generated requests.
//!
//! Invariants: a request's `block_hashes` has `ceil(input_tokens / block_tokens)` ids,
//! like a Mooncake trace. The ids of blocks lying wholly inside shared prompt `p` are the
//! same for every request that uses `p` (`p << 24 | block`, top bit clear) and appear
//! nowhere else; every other block gets a fresh id (top bit set, a counter), so two
//! requests share exactly the full blocks of a common prompt. The choice of prompt comes
//! from the `Prefix` stream only.

use rand::RngExt;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Zipf};

use super::error::WorkloadError;
use super::file::{PrefixFile, PromptOrder};
use crate::limits::{MAX_BLOCK_TOKENS, MAX_PREFIX_BLOCKS, MAX_TOKENS};
use crate::rng::SimRng;

/// Default tokens per hash block (the Mooncake traces' block).
const DEFAULT_BLOCK_TOKENS: u32 = 512;
/// Most shared prompts (their index must fit the id layout).
const MAX_PROMPTS: u32 = 1 << 24;
/// Largest Zipf exponent of prompt popularity.
const MAX_ZIPF_S: f64 = 100.0;
/// Most shared prompts of a shuffled set (the generator holds one permutation of them).
const MAX_SHUFFLED_PROMPTS: u32 = 1 << 20;
/// Bit set in every unique (unshared) block id.
const UNIQUE_BIT: u64 = 1 << 63;

/// A validated `[workload.prefix]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PrefixSpec {
    /// Distinct shared prompts.
    prompts: u32,
    /// Tokens per shared prompt.
    tokens: u32,
    /// Zipf exponent of prompt popularity (0 = uniform).
    zipf_s: f64,
    /// Fraction of requests with a shared prompt.
    fraction: f64,
    /// Tokens per hash block.
    block_tokens: u32,
    /// How requests pick their prompt.
    order: PromptOrder,
}

/// `Err(Invalid)` at `workload.prefix.<key>` unless `ok`.
fn check(ok: bool, key: &str, message: String) -> Result<(), WorkloadError> {
    if ok {
        Ok(())
    } else {
        Err(WorkloadError::invalid(
            format!("workload.prefix.{key}"),
            message,
        ))
    }
}

impl PrefixSpec {
    /// Validates `[workload.prefix]`.
    pub(crate) fn from_file(f: &PrefixFile) -> Result<PrefixSpec, WorkloadError> {
        let PrefixFile::SharedPrompt {
            prompts,
            tokens,
            zipf_s,
            fraction,
            block_tokens,
            order,
        } = *f;
        check(
            (1..=MAX_PROMPTS).contains(&prompts),
            "prompts",
            format!("{prompts} must be in [1, {MAX_PROMPTS}]"),
        )?;
        check(
            (1..=MAX_TOKENS).contains(&tokens),
            "tokens",
            format!("{tokens} must be in [1, {MAX_TOKENS}] tokens"),
        )?;
        let zipf_s = zipf_s.unwrap_or(0.0);
        check(
            zipf_s.is_finite() && (0.0..=MAX_ZIPF_S).contains(&zipf_s),
            "zipf-s",
            format!("{zipf_s} must be in [0, {MAX_ZIPF_S}] (0 = uniform)"),
        )?;
        let fraction = fraction.unwrap_or(1.0);
        check(
            (0.0..=1.0).contains(&fraction),
            "fraction",
            format!("{fraction} must be in [0, 1]"),
        )?;
        let block_tokens = block_tokens.unwrap_or(DEFAULT_BLOCK_TOKENS);
        check(
            (1..=MAX_BLOCK_TOKENS).contains(&block_tokens),
            "block-tokens",
            format!("{block_tokens} must be in [1, {MAX_BLOCK_TOKENS}] tokens"),
        )?;
        let blocks = tokens / block_tokens;
        check(
            blocks <= MAX_PREFIX_BLOCKS,
            "tokens",
            format!(
                "{tokens} tokens make {blocks} blocks of {block_tokens} tokens per request, at most {MAX_PREFIX_BLOCKS}: raise block-tokens or lower tokens"
            ),
        )?;
        let order = order.unwrap_or_default();
        if order == PromptOrder::Shuffle {
            check(
                zipf_s == 0.0,
                "zipf-s",
                format!(
                    "{zipf_s} with order = \"shuffle\": a shuffled set is uniform, zipf-s must be 0"
                ),
            )?;
            check(
                prompts <= MAX_SHUFFLED_PROMPTS,
                "prompts",
                format!(
                    "{prompts} with order = \"shuffle\" must be in [1, {MAX_SHUFFLED_PROMPTS}]"
                ),
            )?;
        }
        Ok(PrefixSpec {
            prompts,
            tokens,
            zipf_s,
            fraction,
            block_tokens,
            order,
        })
    }

    /// Tokens per hash block.
    pub(crate) fn block_tokens(&self) -> u32 {
        self.block_tokens
    }

    /// One line for summaries.
    pub(crate) fn describe(&self) -> String {
        let pop = if self.order == PromptOrder::Shuffle {
            "shuffled passes".to_owned()
        } else if self.zipf_s == 0.0 {
            "uniform".to_owned()
        } else {
            format!("zipf {}", self.zipf_s)
        };
        format!(
            "prefix {} shared prompts x {} tok ({pop}, {}% of requests, {}-tok blocks)",
            self.prompts,
            self.tokens,
            self.fraction * 100.0,
            self.block_tokens
        )
    }
}

/// Hands out block ids that no other block shares (top bit set, a counter).
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockIds {
    /// Ids handed out so far.
    next: u64,
}

impl BlockIds {
    /// Extends `hashes` with fresh ids until it has one per `block` tokens of `tokens`.
    pub(crate) fn cover(&mut self, hashes: &mut Vec<u64>, tokens: u32, block: u32) {
        let n = tokens.div_ceil(block) as usize;
        hashes.reserve(n.saturating_sub(hashes.len()));
        while hashes.len() < n {
            hashes.push(UNIQUE_BIT | self.next);
            self.next += 1;
        }
    }
}

/// Assigns shared prompts and block hashes to generated requests.
#[derive(Clone, Debug)]
pub(crate) struct PrefixGen {
    /// The configuration.
    spec: PrefixSpec,
    /// Prompt popularity (ranks 1..=prompts).
    zipf: Zipf<f64>,
    /// A shuffled set: the current pass's order of the prompts (empty for `random`).
    deck: Vec<u32>,
    /// The next position in `deck` (its length: the pass is over, shuffle again).
    next: usize,
    /// The prefix stream.
    rng: SimRng,
}

impl PrefixGen {
    /// The generator of `spec`, drawing from `rng`.
    pub(crate) fn new(spec: &PrefixSpec, rng: SimRng) -> Result<PrefixGen, WorkloadError> {
        let zipf = Zipf::new(f64::from(spec.prompts), spec.zipf_s)
            .map_err(|e| WorkloadError::invalid("workload.prefix", e.to_string()))?;
        let deck: Vec<u32> = match spec.order {
            PromptOrder::Shuffle => (0..spec.prompts).collect(),
            PromptOrder::Random => Vec::new(),
        };
        Ok(PrefixGen {
            spec: spec.clone(),
            zipf,
            next: deck.len(),
            deck,
            rng,
        })
    }

    /// The next shared prompt's index (0-based).
    fn pick(&mut self) -> u64 {
        if self.spec.order == PromptOrder::Shuffle {
            if self.next == self.deck.len() {
                self.deck.shuffle(&mut self.rng);
                self.next = 0;
            }
            let p = self.deck[self.next];
            self.next += 1;
            return u64::from(p);
        }
        // Zipf samples are whole numbers in [1, prompts].
        let rank = self.zipf.sample(&mut self.rng) as u64;
        rank.clamp(1, u64::from(self.spec.prompts)) - 1
    }

    /// For a request of `user_tokens` sampled input: its total input tokens and hashes
    /// (unshared blocks get fresh ids from `ids`).
    pub(crate) fn apply(&mut self, user_tokens: u32, ids: &mut BlockIds) -> (u32, Vec<u64>) {
        let shared: f64 = self.rng.random();
        let prompt = if shared < self.spec.fraction {
            Some(self.pick())
        } else {
            None
        };
        let prompt_tokens = if prompt.is_some() {
            self.spec.tokens
        } else {
            0
        };
        let input = user_tokens.saturating_add(prompt_tokens);
        let b = self.spec.block_tokens;
        let mut hashes = Vec::new();
        if let Some(p) = prompt {
            hashes.extend((0..u64::from(prompt_tokens / b)).map(|j| (p << 24) | j));
        }
        ids.cover(&mut hashes, input, b);
        (input, hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    fn spec(prompts: u32, tokens: u32, zipf_s: f64, fraction: f64, block: u32) -> PrefixSpec {
        PrefixSpec::from_file(&PrefixFile::SharedPrompt {
            prompts,
            tokens,
            zipf_s: Some(zipf_s),
            fraction: Some(fraction),
            block_tokens: Some(block),
            order: None,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn gen_of(s: &PrefixSpec) -> PrefixGen {
        PrefixGen::new(s, Streams::new(1).get(Stream::Prefix)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn shared_blocks_are_the_prompts_full_blocks() {
        let mut g = gen_of(&spec(1, 1000, 0.0, 1.0, 256));
        let mut ids = BlockIds::default();
        let (n1, h1) = g.apply(100, &mut ids);
        let (n2, h2) = g.apply(1, &mut ids);
        assert_eq!((n1, n2), (1100, 1001));
        assert_eq!(h1.len(), 5);
        assert_eq!(h2.len(), 4);
        // 1000 tokens = 3 full blocks of 256 shared; the 4th block mixes in user tokens.
        assert_eq!(h1[..3], h2[..3]);
        assert!(h1[3..].iter().all(|h| !h2.contains(h)));
        assert!(h1[..3].iter().all(|h| h & UNIQUE_BIT == 0));
    }

    #[test]
    fn fraction_and_popularity() {
        let mut g = gen_of(&spec(4, 512, 0.0, 0.25, 512));
        let n = 40_000;
        let mut ids = BlockIds::default();
        let shared = (0..n)
            .filter(|_| g.apply(10, &mut ids).1[0] & UNIQUE_BIT == 0)
            .count();
        assert!((shared as f64 / n as f64 - 0.25).abs() < 0.01, "{shared}");
        let mut g = gen_of(&spec(10, 512, 1.0, 1.0, 512));
        let mut counts = [0u32; 10];
        for _ in 0..n {
            counts[(g.apply(10, &mut ids).1[0] >> 24) as usize] += 1;
        }
        // Zipf(1): prompt 1 is twice as popular as prompt 2, ten times prompt 10.
        let r = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((r - 2.0).abs() < 0.15, "{counts:?}");
        let r = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((r - 10.0).abs() < 1.5, "{counts:?}");
    }

    #[test]
    fn invalid_prefix_names_the_field() {
        let e = |f: PrefixFile| {
            PrefixSpec::from_file(&f)
                .err()
                .map(|e| e.field().to_owned())
                .unwrap_or_default()
        };
        let f = |prompts, tokens, zipf_s, fraction, block_tokens| PrefixFile::SharedPrompt {
            prompts,
            tokens,
            zipf_s,
            fraction,
            block_tokens,
            order: None,
        };
        assert_eq!(e(f(0, 5, None, None, None)), "workload.prefix.prompts");
        assert_eq!(e(f(1, 0, None, None, None)), "workload.prefix.tokens");
        assert_eq!(e(f(1, 5, Some(-1.0), None, None)), "workload.prefix.zipf-s");
        assert_eq!(
            e(f(1, 5, None, Some(1.5), None)),
            "workload.prefix.fraction"
        );
        assert_eq!(
            e(f(1, 5, None, None, Some(0))),
            "workload.prefix.block-tokens"
        );
        assert_eq!(e(f(1, 5, None, None, None)), "");
        let shuffled = |prompts, zipf_s| PrefixFile::SharedPrompt {
            prompts,
            tokens: 5,
            zipf_s,
            fraction: None,
            block_tokens: None,
            order: Some(PromptOrder::Shuffle),
        };
        assert_eq!(e(shuffled(4, Some(1.0))), "workload.prefix.zipf-s");
        assert_eq!(
            e(shuffled(MAX_SHUFFLED_PROMPTS + 1, None)),
            "workload.prefix.prompts"
        );
        assert_eq!(e(shuffled(MAX_SHUFFLED_PROMPTS, None)), "");
    }

    #[test]
    fn a_shuffled_set_uses_every_prompt_once_per_pass() {
        let s = PrefixSpec::from_file(&PrefixFile::SharedPrompt {
            prompts: 7,
            tokens: 64,
            zipf_s: None,
            fraction: None,
            block_tokens: Some(16),
            order: Some(PromptOrder::Shuffle),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut g = gen_of(&s);
        let mut ids = BlockIds::default();
        let passes: Vec<Vec<u64>> = (0..4)
            .map(|_| (0..7).map(|_| g.apply(3, &mut ids).1[0] >> 24).collect())
            .collect();
        for pass in &passes {
            let mut sorted = pass.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..7).collect::<Vec<u64>>(), "{passes:?}");
        }
        // Each pass is drawn afresh, not the same order repeated.
        assert!(passes.windows(2).any(|w| w[0] != w[1]), "{passes:?}");
        // The same seed gives the same order.
        let mut again = gen_of(&s);
        let first: Vec<u64> = (0..7)
            .map(|_| again.apply(3, &mut ids).1[0] >> 24)
            .collect();
        assert_eq!(first, passes[0]);
    }
}
