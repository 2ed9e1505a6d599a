//! Completion, per-request records and the time-series sampling.

use super::*;
use crate::scenario::StreamChunks;

impl Simulation<'_> {
    // ----- completion -----------------------------------------------------------------------

    /// A request produced its last token on instance `d`; its KV there is already freed.
    pub(super) fn finish(
        &mut self,
        id: RequestId,
        d: InstanceId,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let tokens = self.reqs[id].input_tokens;
        self.insts[d].unassign(tokens);
        self.end(id, Outcome::Completed, sink);
        let flow = self.flow;
        flow.finished(self, d);
        self.maybe_stop(d);
    }

    pub(super) fn end(
        &mut self,
        id: RequestId,
        outcome: Outcome,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let rec = self.record(id, outcome);
        if let (false, Some(ttft)) = (self.scalers.is_empty(), rec.ttft_ms) {
            self.signal_latency.push_back((self.now, ttft, rec.tpot_ms));
        }
        self.collector.ended(&rec, self.now.as_secs_f64());
        sink(&rec);
        let r = &mut self.reqs[id];
        let client = r.client;
        // An aborted request's slot waits for the event still naming it (`reap`).
        if !r.aborted {
            r.phase = Phase::Ended;
            self.free_slots.push(id);
        }
        self.live -= 1;
        self.client_next(client);
    }

    pub(super) fn record(&self, id: RequestId, outcome: Outcome) -> RequestRecord {
        let r = &self.reqs[id];
        let ms = |d: SimDuration| d.as_millis_f64();
        let done = outcome == Outcome::Completed;
        // The engine layer's front-end time: every response reaches the client that much
        // after the engine emits it.
        let frontend = ms(self.frontend);
        let first = r.first_token.map(|ft| self.first_chunk(id, ft));
        let ttft = if done {
            first.map(|t| ms(t.since(r.arrival)) + frontend)
        } else {
            None
        };
        let e2e = if done {
            Some(ms(self.now.since(r.arrival)) + frontend)
        } else {
            None
        };
        // As benchmark clients compute it: (end - first token seen) / (tokens - 1).
        let tpot = match (done, first) {
            (true, Some(ft)) if r.output_tokens > 1 => {
                Some(ms(self.now.since(ft)) / f64::from(r.output_tokens - 1))
            }
            _ => None,
        };
        let slo = &self.sc.slo;
        let slo_met = done.then(|| {
            ttft.is_some_and(|t| t <= slo.ttft_ms) && tpot.is_none_or(|t| t <= slo.tpot_ms)
        });
        let transfer = (done && r.transfer_start.is_some()).then_some(r.transfer_ns as f64 * 1e-6);
        RequestRecord {
            id: r.serial,
            arrival_s: r.arrival.as_secs_f64(),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_tokens: r.cached_tokens,
            prefill_instance: r.prefill_instance.map(|i| i.0),
            decode_instance: r.decode_instance.map(|i| i.0),
            ttft_ms: ttft,
            tpot_ms: tpot,
            e2e_ms: e2e,
            queue_ms: if done {
                r.prefill_start.map(|t| ms(t.since(r.arrival)))
            } else {
                None
            },
            kv_transfer_ms: transfer,
            slo_met,
            outcome,
            preemptions: r.preemptions,
            warmup: r.warmup,
        }
    }

    /// When a streaming client sees request `id`'s first token, emitted at `first`: with
    /// the workload's `ttft-chunk` n > 1 it times it at the n-th streamed chunk, whose
    /// output token the decoding engine's [`StreamChunks`] gives; that token comes its
    /// index - 1 of the request's mean decode steps after `first`, or at the end when the
    /// output has no such chunk before its last. Only called at the request's end.
    fn first_chunk(&self, id: RequestId, first: SimTime) -> SimTime {
        let n = self.sc.workload.ttft_chunk();
        if n <= 1 {
            return first;
        }
        let r = &self.reqs[id];
        let chunks = r
            .decode_instance
            .map_or(StreamChunks::EveryToken, |d| self.insts[d].engine().stream);
        let token = chunks.chunk_token(n);
        let out = u64::from(r.output_tokens);
        if token >= out {
            return self.now;
        }
        let span = self.now.since(first).as_nanos();
        let lag = u128::from(span) * u128::from(token - 1) / u128::from(out - 1);
        first + SimDuration(lag as u64)
    }

    // ----- sampling ---------------------------------------------------------------------------

    pub(super) fn on_sample(&mut self, windows: &mut dyn FnMut(&TimeseriesRow)) {
        let window = self.window;
        let t = self.now.as_secs_f64();
        let w = window.as_nanos() as f64;
        let ready =
            |ids: &[InstanceId]| ids.iter().filter(|&&i| self.insts[i].is_ready()).count() as u32;
        let (prefill_replicas, decode_replicas) =
            (ready(&self.prefill_ids), ready(&self.decode_ids));
        for inst in self.insts.iter_mut() {
            if inst.lifecycle() == Lifecycle::Stopped {
                continue;
            }
            let counted = inst.take_window();
            windows(&TimeseriesRow {
                state: inst.lifecycle().name(),
                prefill_replicas,
                decode_replicas,
                time_s: t,
                instance: inst.id().0,
                role: inst.role().name(),
                waiting: inst.queued(),
                running: inst.running(),
                kv_utilization: inst.kv_utilization(),
                prefill_tokens: counted.prefill_tokens,
                decode_tokens: counted.decode_tokens,
                busy_fraction: (counted.busy_ns as f64 / w).min(1.0),
            });
        }
        if self.live > 0 {
            self.queue.push(self.now + window, Event::Sample);
        } else {
            self.sampling = false;
        }
    }

    /// Restart sampling at the next window boundary after an idle spell (idle windows,
    /// with no request in the system, are not written).
    pub(super) fn ensure_sampling(&mut self) {
        if !self.sampling {
            self.sampling = true;
            let w = self.window.as_nanos();
            let next = (self.now.as_nanos() / w + 1).saturating_mul(w);
            self.queue.push(SimTime(next), Event::Sample);
        }
    }
}
