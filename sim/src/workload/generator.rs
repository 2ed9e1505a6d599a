//! The request generator the engine pulls from.
//!
//! Invariants: synthetic workloads stream. A generator holds O(1) state plus the data
//! tables it samples from, whatever `requests` is, and draws each purpose from its own
//! stream (arrivals: `Arrivals`; lengths: `InputLen`/`OutputLen`, joint rows:
//! `InputLen`; think times: `Think`; shared prompts: `Prefix`), so one purpose's draws
//! never shift another's. A trace is read once into compact records (one copy, however
//! many tiles replay it). The same `Workload` and seed always give the same sequence.

use super::arrival::{Arrival, ArrivalGen, ThinkGen};
use super::data::{ColumnRequest, read_token_columns};
use super::error::WorkloadError;
use super::length::LengthSampler;
use super::prefix::{BlockIds, PrefixGen};
use super::session::SessionGen;
use super::spec::{Lengths, Source, Workload};
use super::trace::{Tiling, Trace};
use super::{ArrivalMode, RequestSpec};
use crate::rng::{SimRng, Stream, Streams};
use crate::time::{SimDuration, SimTime};
use rand::RngExt;

/// Draws input and output lengths.
#[derive(Clone, Debug)]
struct LengthGen {
    /// Input lengths (and joint rows).
    input_rng: SimRng,
    /// Output lengths.
    output_rng: SimRng,
    /// What is drawn.
    kind: LengthKind,
}

/// The length distributions of a [`LengthGen`].
#[derive(Clone, Debug)]
enum LengthKind {
    /// Independent input and output draws.
    Independent {
        input: LengthSampler,
        output: LengthSampler,
    },
    /// Uniformly drawn `(input, output)` rows (same length vectors).
    Joint { input: Vec<u32>, output: Vec<u32> },
}

impl LengthGen {
    /// `(input, output)` tokens of the next request.
    fn next_lengths(&mut self) -> (u32, u32) {
        match &self.kind {
            LengthKind::Independent { input, output } => (
                input.sample(&mut self.input_rng),
                output.sample(&mut self.output_rng),
            ),
            LengthKind::Joint { input, output } => {
                let i = self.input_rng.random_range(0..input.len());
                (input[i], output[i])
            }
        }
    }
}

/// A synthetic generator's state.
#[derive(Clone, Debug)]
struct Synthetic {
    /// Open-loop arrivals; `None` in a closed loop.
    arrivals: Option<ArrivalGen>,
    /// Lengths.
    lengths: LengthGen,
    /// Shared prompt prefixes, if configured.
    prefix: Option<PrefixGen>,
    /// Multi-turn conversations, if configured.
    sessions: Option<SessionGen>,
    /// Fresh block ids.
    ids: BlockIds,
    /// Tokens per hash block; 0 when requests carry no hashes.
    block_tokens: u32,
}

/// A request (or a conversation's first turn) at `arrival` with fresh lengths, and its
/// shared prompt and block hashes when configured.
fn first_turn(
    lengths: &mut LengthGen,
    prefix: &mut Option<PrefixGen>,
    ids: &mut BlockIds,
    block_tokens: u32,
    arrival: SimTime,
) -> RequestSpec {
    let (user, output_tokens) = lengths.next_lengths();
    let (input_tokens, block_hashes) = match prefix {
        Some(p) => p.apply(user, ids),
        None if block_tokens > 0 => {
            let mut h = Vec::new();
            ids.cover(&mut h, user, block_tokens);
            (user, h)
        }
        None => (user, Vec::new()),
    };
    RequestSpec {
        arrival,
        input_tokens,
        output_tokens,
        block_hashes,
        hash_block_tokens: block_tokens,
        session: None,
    }
}

impl Synthetic {
    /// The next open-loop request: a new conversation's first turn or a later turn,
    /// whichever arrives first.
    fn next_open(&mut self) -> RequestSpec {
        let Synthetic {
            arrivals,
            lengths,
            prefix,
            sessions,
            ids,
            block_tokens,
        } = self;
        let arrivals = arrivals
            .as_mut()
            .expect("an open-loop synthetic workload has an arrival process");
        let Some(s) = sessions.as_mut() else {
            let at = arrivals.next_arrival();
            return first_turn(lengths, prefix, ids, *block_tokens, at);
        };
        loop {
            let start = *s.next_start.get_or_insert_with(|| arrivals.next_arrival());
            let turn = if s.start_is_next(start) {
                None
            } else {
                s.pop()
            };
            match turn {
                None => {
                    s.next_start = None;
                    let mut r = first_turn(lengths, prefix, ids, *block_tokens, start);
                    s.begin(&mut r);
                    return r;
                }
                Some(p) => {
                    let (user, output) = lengths.next_lengths();
                    if let Some(r) = s.continue_turn(p, user, output, ids) {
                        return r;
                    }
                }
            }
        }
    }

    /// A closed-loop request issued at `at`.
    fn closed(&mut self, at: SimTime) -> RequestSpec {
        first_turn(
            &mut self.lengths,
            &mut self.prefix,
            &mut self.ids,
            self.block_tokens,
            at,
        )
    }
}

/// What produces the requests.
#[derive(Clone, Debug)]
enum Inner {
    /// Generated requests (boxed: the RNG states are large).
    Synthetic(Box<Synthetic>),
    /// A trace replay.
    Trace {
        /// The selected, rebased, scaled records (one copy).
        trace: Trace,
        /// Index of the next record in its copy.
        next: usize,
        /// The copy being replayed (from 0).
        tile: u64,
        /// How the copies repeat.
        tiling: Tiling,
    },
}

/// Produces the requests of a [`Workload`], in order, from seeded streams.
#[derive(Clone, Debug)]
pub struct WorkloadGen {
    /// The source of requests.
    inner: Inner,
    /// Think times (zero unless a closed loop with a think time).
    think: ThinkGen,
    /// Requests still to issue (`u64::MAX` for an uncapped trace: the trace ends first).
    left: u64,
    /// Open or closed loop.
    mode: ArrivalMode,
}

impl WorkloadGen {
    /// Builds the generator, reading trace and empirical files now.
    pub fn new(w: &Workload, streams: &Streams) -> Result<WorkloadGen, WorkloadError> {
        let mut think_ms = 0.0;
        let inner = match &w.source {
            Source::Synthetic {
                arrival,
                lengths,
                prefix,
                sessions,
            } => {
                if let Arrival::ClosedLoop { think_time_ms, .. } = arrival {
                    think_ms = *think_time_ms;
                }
                let block_tokens = match (prefix, sessions) {
                    (Some(p), _) => p.block_tokens(),
                    (None, Some(s)) => s.block_tokens_or_default(),
                    (None, None) => 0,
                };
                let kind = match lengths {
                    Lengths::Independent { input, output } => LengthKind::Independent {
                        input: LengthSampler::new(input)?,
                        output: LengthSampler::new(output)?,
                    },
                    Lengths::Joint {
                        source,
                        input_column,
                        output_column,
                    } => {
                        let mut cols = read_token_columns(
                            source,
                            &[
                                ColumnRequest {
                                    header: input_column,
                                    field: "workload.lengths.input-column",
                                },
                                ColumnRequest {
                                    header: output_column,
                                    field: "workload.lengths.output-column",
                                },
                            ],
                        )?;
                        let output = cols.pop().unwrap_or_default();
                        let input = cols.pop().unwrap_or_default();
                        LengthKind::Joint { input, output }
                    }
                };
                Inner::Synthetic(Box::new(Synthetic {
                    arrivals: ArrivalGen::new(arrival, streams.get(Stream::Arrivals))?,
                    lengths: LengthGen {
                        input_rng: streams.get(Stream::InputLen),
                        output_rng: streams.get(Stream::OutputLen),
                        kind,
                    },
                    prefix: prefix
                        .as_ref()
                        .map(|p| PrefixGen::new(p, streams.get(Stream::Prefix)))
                        .transpose()?,
                    sessions: sessions
                        .as_ref()
                        .map(|s| SessionGen::new(s, block_tokens, streams.get(Stream::Think)))
                        .transpose()?,
                    ids: BlockIds::default(),
                    block_tokens,
                }))
            }
            Source::Trace(t) => {
                let bytes = t.source.read()?;
                // Tiled, the cap applies to the tiled stream: each copy is the whole
                // selected trace.
                let copy_cap = if t.tiles > 1 { None } else { w.issued() };
                let trace = Trace::parse(t.format, &bytes, &t.source.label())?
                    .select(t.start_s, copy_cap, t.scale)?;
                let tiling = trace.tiling(t.tiles, w.issued())?;
                Inner::Trace {
                    trace,
                    next: 0,
                    tile: 0,
                    tiling,
                }
            }
        };
        Ok(WorkloadGen {
            inner,
            think: ThinkGen::new(think_ms, streams.get(Stream::Think))?,
            left: w.issued().unwrap_or(u64::MAX),
            mode: w.mode(),
        })
    }

    /// Open loop: the next request in arrival order, `None` when the workload is done.
    /// Panics on a closed-loop workload (calling it there is a bug).
    pub fn next_open(&mut self) -> Option<RequestSpec> {
        assert_eq!(
            self.mode,
            ArrivalMode::Open,
            "next_open on a closed-loop workload"
        );
        if self.left == 0 {
            return None;
        }
        let spec = match &mut self.inner {
            Inner::Synthetic(syn) => syn.next_open(),
            Inner::Trace {
                trace,
                next,
                tile,
                tiling,
            } => {
                if *next == trace.records.len() && *tile + 1 < tiling.tiles {
                    *tile += 1;
                    *next = 0;
                }
                let r = trace.records.get(*next)?;
                *next += 1;
                let shift = *tile * tiling.id_stride;
                RequestSpec {
                    // In range: `Trace::tiling` checked the last copy issued.
                    arrival: SimTime(r.at_ns + *tile * tiling.period_ns),
                    input_tokens: r.input,
                    output_tokens: r.output,
                    block_hashes: trace.hashes_of(r).iter().map(|&h| h + shift).collect(),
                    hash_block_tokens: if r.hash_len > 0 {
                        trace.block_tokens
                    } else {
                        0
                    },
                    session: None,
                }
            }
        };
        self.left -= 1;
        Some(spec)
    }

    /// Look for open-loop arrivals up to `stop` only (the run's `max-duration-s`): an
    /// arrival process whose next arrival lies beyond it returns the first candidate past
    /// it instead of searching on (a schedule at rate 0 until a far `repeat-s`). Arrivals
    /// before `stop` are unchanged.
    pub fn with_horizon(mut self, stop: SimTime) -> WorkloadGen {
        if let Inner::Synthetic(syn) = &mut self.inner
            && let Some(a) = syn.arrivals.as_mut()
        {
            a.set_horizon(stop);
        }
        self
    }

    /// Requests still to issue: the cap left, or the trace records left, whichever is
    /// fewer (requests that never arrived when a run stops).
    pub fn remaining(&self) -> u64 {
        match &self.inner {
            Inner::Trace {
                trace,
                next,
                tile,
                tiling,
            } => {
                let n = trace.records.len() as u64;
                let later = (tiling.tiles - *tile - 1).saturating_mul(n);
                (n.saturating_sub(*next as u64))
                    .saturating_add(later)
                    .min(self.left)
            }
            Inner::Synthetic(_) => self.left,
        }
    }

    /// Closed loop: a request issued at `at`, `None` once `requests` have been issued.
    /// Panics on an open-loop workload (calling it there is a bug).
    pub fn next_closed(&mut self, at: SimTime) -> Option<RequestSpec> {
        let Inner::Synthetic(syn) = &mut self.inner else {
            panic!("next_closed on a trace workload");
        };
        assert!(
            matches!(self.mode, ArrivalMode::Closed { .. }),
            "next_closed on an open-loop workload"
        );
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(syn.closed(at))
    }

    /// Closed loop: a client's think time before its next request, exponential with the
    /// configured mean (zero when the mean is 0 or the workload is open-loop).
    pub fn think_time(&mut self) -> SimDuration {
        self.think.next_think()
    }
}
