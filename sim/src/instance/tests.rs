//! Unit tests of `Instance` on small hand-built states: the KV account through every
//! verb, head-of-line reservation, chunked prefill, preemption, slots, wake-ups, and the
//! admission policies (whole-sequence reservation never preempts nor over-commits;
//! on-demand and max-utilization preempt the newest).

use super::*;
use crate::scenario::{MemoryFraction, Priority};
use xpyd_models::{Dtype, Efficiencies, GpuSpec, ModelArch};

/// An instance of `blocks` KV blocks of 16 tokens, running at most `max_seqs`
/// requests and `budget` tokens per step, with chunked prefill, decode first.
fn instance(role: Role, blocks: u64, max_seqs: u32, budget: u32) -> Instance {
    admitting(role, blocks, max_seqs, budget, Admission::OnDemand)
}

/// [`instance`] with admission policy `admission`.
fn admitting(
    role: Role,
    blocks: u64,
    max_seqs: u32,
    budget: u32,
    admission: Admission,
) -> Instance {
    let cost = CostModel::new(
        ModelArch::builtin("qwen3-32b").expect("catalog model"),
        GpuSpec::builtin("h100").expect("catalog gpu"),
        1,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    );
    let engine = EngineConfig {
        max_num_seqs: max_seqs,
        max_batched_tokens: budget,
        chunked_prefill: true,
        priority: Priority::DecodeFirst,
        admission,
        gpu_memory_utilization: 0.9,
        memory_fraction: MemoryFraction::OfTotal,
        kv_block_tokens: 16,
        activation_reserve_gib: 0.0,
        async_scheduling: false,
        context_wait: None,
        stream: crate::scenario::StreamChunks::EveryToken,
    };
    let ports = Ports {
        nic_out: PortId(0),
        nic_in: PortId(1),
        local_out: PortId(2),
        local_in: PortId(3),
    };
    let at = Placement {
        node: 0,
        multi_node: false,
        ports,
        load_port: PortId(4),
    };
    Instance::new(InstanceId(0), role, cost, 0, engine, 1, blocks * 16, at)
}

fn request(reqs: &mut Requests, input: u32, output: u32) -> RequestId {
    let serial = reqs.len() as u64;
    reqs.push(Request::new(serial, SimTime::ZERO, input, output, None))
}

/// Blocks held or reserved, summed over what the requests say they hold plus the
/// decode set's spans: the instance's account must equal it.
fn assert_account(inst: &Instance, expected_in_use: u64) {
    assert_eq!(inst.kv_blocks_in_use(), expected_in_use);
    assert_eq!(inst.available_blocks(), inst.total_blocks - expected_in_use);
}

#[test]
fn reserve_transfer_and_release_conserve_blocks() {
    let mut d = instance(Role::Decode, 10, 8, 512);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 40, 1); // 3 blocks
    d.assign(40);
    d.await_kv(a);
    assert_eq!(d.queued(), 1);
    assert_eq!(d.reserve_next(&mut reqs, 0), Some(a));
    assert_eq!(reqs[a].reserved_blocks, 3);
    assert_account(&d, 3);
    // The KV arrives: the reservation becomes the request's blocks.
    reqs[a].generated = 1;
    d.kv_arrived(&mut reqs[a]);
    assert_eq!((reqs[a].blocks, reqs[a].reserved_blocks), (3, 0));
    assert_account(&d, 3);
    // It ends here (one output token): everything comes back.
    d.release_request(&mut reqs[a]);
    d.unassign(40);
    assert_eq!(reqs[a].blocks, 0);
    assert_account(&d, 0);
    assert!(d.is_idle());
}

#[test]
fn reservation_is_head_of_line_and_keeps_decode_headroom() {
    let mut d = instance(Role::Decode, 10, 8, 512);
    let mut reqs = Requests::new();
    let big = request(&mut reqs, 200, 10); // 13 blocks: never fits
    let small = request(&mut reqs, 16, 10);
    d.await_kv(big);
    d.await_kv(small);
    assert_eq!(d.reserve_next(&mut reqs, 0), None, "the head blocks the queue");
    assert_account(&d, 0);

    let mut d = instance(Role::Decode, 10, 8, 512);
    let a = request(&mut reqs, 64, 10); // 4 blocks
    let b = request(&mut reqs, 64, 10); // 4 blocks
    d.await_kv(a);
    d.await_kv(b);
    // 128 tokens (8 blocks) of headroom per holder: the first fits (no holder yet),
    // the second does not (4 + 8 > 6 left).
    assert_eq!(d.reserve_next(&mut reqs, 128), Some(a));
    assert_eq!(d.reserve_next(&mut reqs, 128), None);
    // Without headroom it fits.
    assert_eq!(d.reserve_next(&mut reqs, 0), Some(b));
    assert_account(&d, 8);
}

#[test]
fn prefill_is_chunked_within_the_budget_and_joins_decode() {
    let mut m = instance(Role::Aggregated, 100, 8, 128);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 100, 5);
    let b = request(&mut reqs, 100, 5);
    m.enqueue_prefill(a);
    m.enqueue_prefill(b);
    let mut preempted = Vec::new();
    let plan = m
        .plan_step(SimTime::ZERO, &mut reqs, &mut preempted)
        .expect("work to do");
    assert_eq!(plan.chunks, vec![(a, 100), (b, 28)]);
    assert_eq!(plan.shape.prefill_tokens, 128);
    assert!(!plan.decode && preempted.is_empty());
    // 7 blocks for a's 100 tokens, 2 for b's first 28.
    assert_account(&m, 9);
    m.begin_step(plan);
    let plan = m.end_step(SimTime(1_000));
    assert_eq!((m.steps(), m.busy_ns()), (1, 1_000));
    for (id, chunk) in plan.chunks {
        reqs[id].prefilled += chunk;
    }
    // a's prompt is done: it leaves the prefilling set and decodes.
    m.prompt_computed(a);
    reqs[a].generated = 1;
    m.join_decode(a, &mut reqs[a]);
    assert_eq!(reqs[a].phase, Phase::Decoding);
    assert_eq!(m.running(), 2);
}

#[test]
fn async_scheduling_admits_a_request_that_came_during_a_step_one_step_later() {
    let mut m = instance(Role::Aggregated, 100, 8, 512);
    m.engine.async_scheduling = true;
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 32, 10);
    m.enqueue_prefill(a);
    let mut preempted = Vec::new();
    // Idle: the first request starts at once.
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).expect("a");
    assert_eq!(plan.chunks, vec![(a, 32)]);
    m.begin_step(plan);
    // b comes while a's prefill runs: the next step (a's first decode) was planned
    // before it came.
    let b = request(&mut reqs, 32, 10);
    m.enqueue_prefill(b);
    let plan = m.end_step(SimTime(1_000));
    for (id, chunk) in plan.chunks {
        reqs[id].prefilled += chunk;
    }
    m.prompt_computed(a);
    reqs[a].generated = 1;
    m.join_decode(a, &mut reqs[a]);
    let plan = m.plan_step(SimTime(1_000), &mut reqs, &mut preempted).expect("a decodes");
    assert!(plan.decode && plan.chunks.is_empty(), "b waits a step");
    m.begin_step(plan);
    m.end_step(SimTime(2_000));
    let plan = m.plan_step(SimTime(2_000), &mut reqs, &mut preempted).expect("b joins");
    assert_eq!(plan.chunks, vec![(b, 32)]);
    // Without asynchronous scheduling b would have joined the first decode step.
    let mut sync = instance(Role::Aggregated, 100, 8, 512);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 32, 10);
    sync.enqueue_prefill(a);
    let plan = sync.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).expect("a");
    sync.begin_step(plan);
    let b = request(&mut reqs, 32, 10);
    sync.enqueue_prefill(b);
    let plan = sync.end_step(SimTime(1_000));
    for (id, chunk) in plan.chunks {
        reqs[id].prefilled += chunk;
    }
    sync.prompt_computed(a);
    reqs[a].generated = 1;
    sync.join_decode(a, &mut reqs[a]);
    let plan = sync.plan_step(SimTime(1_000), &mut reqs, &mut preempted).expect("both");
    assert!(plan.decode);
    assert_eq!(plan.chunks, vec![(b, 32)]);
}

#[test]
fn async_scheduling_never_leaves_a_step_empty() {
    // Nothing else to run: a request that came during the last step goes at once.
    let mut m = instance(Role::Aggregated, 100, 8, 512);
    m.engine.async_scheduling = true;
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 32, 1);
    m.enqueue_prefill(a);
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).expect("a");
    m.begin_step(plan);
    let b = request(&mut reqs, 32, 1);
    m.enqueue_prefill(b);
    let plan = m.end_step(SimTime(1_000));
    for (id, chunk) in plan.chunks {
        reqs[id].prefilled += chunk;
    }
    // a (one output token) is done with its prompt: nothing decodes.
    m.prompt_computed(a);
    let plan = m.plan_step(SimTime(1_000), &mut reqs, &mut preempted).expect("b");
    assert_eq!(plan.chunks, vec![(b, 32)]);
}

#[test]
fn decode_growth_that_does_not_fit_preempts_the_newest() {
    // Two requests of exactly 2 blocks each fill 4 blocks: the next decode token of
    // each needs a fifth and sixth block, and only one is free.
    let mut m = instance(Role::Aggregated, 5, 8, 512);
    let mut reqs = Requests::new();
    let old = request(&mut reqs, 32, 10);
    let new = request(&mut reqs, 32, 10);
    for id in [old, new] {
        m.take_blocks(2);
        let r = &mut reqs[id];
        r.blocks = 2;
        r.prefilled = 32;
        r.generated = 1;
        m.join_decode(id, r);
    }
    assert_account(&m, 4);
    let mut preempted = Vec::new();
    let plan = m
        .plan_step(SimTime::ZERO, &mut reqs, &mut preempted)
        .expect("the older request still decodes");
    assert_eq!(preempted, vec![new]);
    assert!(plan.decode);
    assert_eq!(plan.shape.decode_seqs, 1);
    // The victim freed its 2 blocks and waits at the front for recompute of its
    // prompt and its one generated token; the survivor took its growth block.
    let r = &reqs[new];
    assert_eq!((r.phase, r.blocks, r.prefill_target, r.preemptions), (Phase::Waiting, 0, 33, 1));
    assert_eq!(m.preemptions(), 1);
    assert_eq!(m.queued(), 1);
    assert_account(&m, 3);
}

#[test]
fn slot_waiters_join_only_while_slots_are_free() {
    let mut d = instance(Role::Decode, 100, 1, 512);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 16, 4);
    let b = request(&mut reqs, 16, 4);
    for id in [a, b] {
        reqs[id].generated = 1;
        let r = &mut reqs[id];
        d.await_slot(id, r);
    }
    assert!(d.admit_decoders(&mut reqs));
    assert_eq!((reqs[a].phase, reqs[b].phase), (Phase::Decoding, Phase::AwaitingDecodeSlot));
    assert!(!d.admit_decoders(&mut reqs), "max-num-seqs 1: b keeps waiting");
    assert_eq!((d.running(), d.queued()), (1, 1));
}

#[test]
fn a_wake_is_requested_once_until_it_happens() {
    let mut m = instance(Role::Aggregated, 10, 8, 512);
    assert!(m.request_wake());
    assert!(!m.request_wake(), "coalesced");
    m.woke();
    assert!(m.request_wake());
}

/// Aborts free every block wherever the request is: queued, mid-prefill in an executing
/// step (its chunk dropped from the step), decoding in an executing decode step (the
/// block taken for its next token included), waiting for a slot, holding a reservation.
#[test]
fn abort_frees_every_block_wherever_the_request_is() {
    let mut m = instance(Role::Aggregated, 100, 8, 64);
    let mut reqs = Requests::new();
    // a decodes with 32 tokens of context: its next token needs a new block.
    let a = request(&mut reqs, 32, 50);
    let b = request(&mut reqs, 100, 5);
    let c = request(&mut reqs, 10, 5);
    m.enqueue_prefill(a);
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    m.begin_step(plan);
    let plan = m.end_step(SimTime(10));
    for (id, chunk) in plan.chunks {
        reqs[id].prefilled += chunk;
    }
    m.prompt_computed(a);
    reqs[a].generated = 1;
    reqs[a].last_token = Some(SimTime(10));
    m.join_decode(a, &mut reqs[a]);
    m.enqueue_prefill(b);
    m.enqueue_prefill(c);
    // A step decoding a (growth: 1 block) and prefilling 63 tokens of b (4 blocks).
    let plan = m.plan_step(SimTime(10), &mut reqs, &mut preempted).unwrap();
    assert!(plan.decode);
    assert_eq!(plan.chunks, vec![(b, 63)]);
    assert_account(&m, 2 + 1 + 4);
    m.begin_step(plan);
    m.abort(b, &mut reqs[b]);
    assert_account(&m, 3);
    m.abort(a, &mut reqs[a]);
    assert_account(&m, 0);
    m.abort(c, &mut reqs[c]);
    assert_eq!(m.queued(), 0);
    let plan = m.end_step(SimTime(20));
    assert!(plan.chunks.is_empty(), "the aborted chunk is not advanced");
    let mut gaps = 0;
    m.complete_decode_step(SimTime(20), &mut reqs, &mut |_, n| gaps += n);
    assert_eq!((gaps, m.running()), (0, 0));
    assert_account(&m, 0);

    // A reservation on a decode instance, and a request waiting for a slot.
    let mut d = instance(Role::Decode, 10, 1, 512);
    let x = request(&mut reqs, 40, 5);
    let y = request(&mut reqs, 40, 5);
    for id in [x, y] {
        d.await_kv(id);
        assert_eq!(d.reserve_next(&mut reqs, 0), Some(id));
    }
    assert_account(&d, 6);
    reqs[y].generated = 1;
    d.kv_arrived(&mut reqs[y]);
    d.await_slot(y, &mut reqs[y]);
    d.abort(x, &mut reqs[x]);
    d.cancel_reservation(&mut reqs[x]);
    assert_account(&d, 3);
    d.abort(y, &mut reqs[y]);
    assert_account(&d, 0);
    assert_eq!(d.queued(), 0);
}

/// Run aggregated instance `m` until every request of `ids` has finished, as the engine's
/// step handlers do; checks the KV account after every step (blocks in use are what the
/// requests hold; whole-sequence promises never exceed the instance under
/// `guaranteed-no-evict`). Returns the preemptions.
fn run_to_completion(m: &mut Instance, reqs: &mut Requests, ids: &[RequestId]) -> u64 {
    for &id in ids {
        m.enqueue_prefill(id);
    }
    let no_evict = m.engine().admission.reserves_whole_sequence();
    let mut finished = 0;
    let mut t = 0;
    while finished < ids.len() {
        let mut preempted = Vec::new();
        let mut plan = m.plan_step(SimTime(t), reqs, &mut preempted);
        if plan.is_none() {
            // A stuck partial prefill was preempted: plan again.
            plan = m.plan_step(SimTime(t), reqs, &mut preempted);
        }
        let plan = plan.expect("work remains");
        if no_evict {
            assert!(preempted.is_empty(), "guaranteed-no-evict preempted");
            assert!(m.promised_blocks() <= m.total_blocks);
        }
        assert!(m.used_blocks <= m.total_blocks);
        m.begin_step(plan);
        t += 1_000;
        let plan = m.end_step(SimTime(t));
        if plan.decode {
            m.complete_decode_step(SimTime(t), reqs, &mut |_, _| {});
            while m.pop_finished(reqs, SimTime(t)).is_some() {
                finished += 1;
            }
        }
        for (id, chunk) in plan.chunks {
            let r = &mut reqs[id];
            r.prefilled += chunk;
            if r.prefilled < r.prefill_target {
                continue;
            }
            m.prompt_computed(id);
            let r = &mut reqs[id];
            r.generated += 1;
            r.last_token = Some(SimTime(t));
            if r.generated >= r.output_tokens {
                m.release_request(r);
                finished += 1;
            } else {
                m.join_decode(id, r);
            }
        }
        assert!(t < 10_000_000, "no progress");
    }
    assert_account(m, 0);
    assert_eq!((m.promised_blocks(), m.running(), m.queued()), (0, 0, 0));
    m.preemptions()
}

/// Three requests whose prompts fit at once but whose outputs do not: 10 blocks of 16
/// tokens; each of 32 + 48 tokens (2 blocks of prompt, 5 whole).
fn overcommitted(reqs: &mut Requests) -> Vec<RequestId> {
    (0..3).map(|_| request(reqs, 32, 48)).collect()
}

#[test]
fn guaranteed_no_evict_admits_whole_sequences_only() {
    let mut m = admitting(Role::Aggregated, 10, 8, 512, Admission::GuaranteedNoEvict);
    let mut reqs = Requests::new();
    let ids = overcommitted(&mut reqs);
    for &id in &ids {
        m.enqueue_prefill(id);
    }
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    // The first two promise all 10 blocks: the third waits although 6 blocks are free.
    assert_eq!(plan.chunks, vec![(ids[0], 32), (ids[1], 32)]);
    assert_eq!(m.promised_blocks(), 10);
    assert_account(&m, 4);
    assert_eq!(m.queued(), 1);
    // On-demand admits all three at once.
    let mut o = admitting(Role::Aggregated, 10, 8, 512, Admission::OnDemand);
    let mut reqs = Requests::new();
    let ids = overcommitted(&mut reqs);
    for &id in &ids {
        o.enqueue_prefill(id);
    }
    let plan = o.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    assert_eq!(plan.chunks.len(), 3);
}

#[test]
fn guaranteed_no_evict_never_preempts_and_conserves_blocks() {
    let mut m = admitting(Role::Aggregated, 10, 8, 512, Admission::GuaranteedNoEvict);
    let mut reqs = Requests::new();
    let ids = overcommitted(&mut reqs);
    assert_eq!(run_to_completion(&mut m, &mut reqs, &ids), 0);
}

#[test]
fn on_demand_and_max_utilization_overcommit_then_preempt() {
    for admission in [Admission::OnDemand, Admission::MaxUtilization] {
        let mut m = admitting(Role::Aggregated, 10, 8, 512, admission);
        let mut reqs = Requests::new();
        let ids = overcommitted(&mut reqs);
        let preemptions = run_to_completion(&mut m, &mut reqs, &ids);
        assert!(preemptions > 0, "{admission:?}");
    }
}

#[test]
fn retract_holds_back_what_its_estimate_does_not_cover() {
    // SGLang's estimate keeps the second prompt out while the first decodes (its 48
    // output tokens x 0.7 plus the second's 80 tokens exceed what is free): no
    // retraction, every block returned.
    let mut m = admitting(Role::Aggregated, 10, 8, 512, Admission::Retract);
    let mut reqs = Requests::new();
    let ids = overcommitted(&mut reqs);
    assert_eq!(run_to_completion(&mut m, &mut reqs, &ids), 0);
}

#[test]
fn max_utilization_pauses_the_last_started_request() {
    // As `decode_growth_that_does_not_fit_preempts_the_newest`, under max-utilization.
    let mut m = admitting(Role::Aggregated, 5, 8, 512, Admission::MaxUtilization);
    let mut reqs = Requests::new();
    let old = request(&mut reqs, 32, 10);
    let new = request(&mut reqs, 32, 10);
    for id in [old, new] {
        m.take_blocks(2);
        let r = &mut reqs[id];
        r.blocks = 2;
        r.prefilled = 32;
        r.generated = 1;
        m.join_decode(id, r);
    }
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    assert_eq!(preempted, vec![new]);
    assert_eq!(plan.shape.decode_seqs, 1);
    assert_eq!(reqs[new].phase, Phase::Waiting);
    assert_account(&m, 3);
}

#[test]
fn guaranteed_no_evict_reserves_whole_sequences_on_decode() {
    let mut d = admitting(Role::Decode, 10, 8, 512, Admission::GuaranteedNoEvict);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 40, 40); // 3 blocks of prompt, 5 promised
    let b = request(&mut reqs, 40, 40);
    let c = request(&mut reqs, 16, 16); // 1 block of prompt, 2 promised
    for id in [a, b, c] {
        d.await_kv(id);
    }
    assert_eq!(d.reserve_next(&mut reqs, 0), Some(a));
    assert_eq!(d.reserve_next(&mut reqs, 0), Some(b));
    assert_eq!(d.reserve_next(&mut reqs, 0), None, "4 blocks free, none promised");
    assert_account(&d, 6);
    assert_eq!(d.promised_blocks(), 10);
    // a's reservation goes (aborted): its promise with it, and c fits.
    d.cancel_reservation(&mut reqs[a]);
    assert_eq!(d.promised_blocks(), 5);
    assert_eq!(d.reserve_next(&mut reqs, 0), Some(c));
    assert_eq!(d.promised_blocks(), 7);
    d.cancel_reservation(&mut reqs[b]);
    d.cancel_reservation(&mut reqs[c]);
    assert_account(&d, 0);
    assert_eq!(d.promised_blocks(), 0);
}

#[test]
fn a_prefill_only_instance_promises_the_prompt_only() {
    let mut p = admitting(Role::Prefill, 10, 8, 512, Admission::GuaranteedNoEvict);
    let mut reqs = Requests::new();
    // 150 prompt tokens (10 blocks) with a long output: fits, since the output decodes
    // elsewhere.
    let a = request(&mut reqs, 150, 1000);
    p.assign(150);
    p.enqueue_prefill(a);
    let mut preempted = Vec::new();
    let plan = p.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    assert_eq!(plan.chunks, vec![(a, 150)]);
    assert_eq!(p.promised_blocks(), 10);
    p.begin_step(plan);
    p.end_step(SimTime(1));
    reqs[a].prefilled = 150;
    p.prompt_computed(a);
    p.kv_sent(&mut reqs[a]);
    assert_eq!(p.promised_blocks(), 0);
    assert_account(&p, 0);
}

/// A decoding member on `m` holding `blocks` blocks of its `context` tokens, with
/// `generated` output tokens so far out of `output`.
fn decoding(
    m: &mut Instance,
    reqs: &mut Requests,
    input: u32,
    context: u32,
    generated: u32,
    output: u32,
) -> RequestId {
    let id = request(reqs, input, output);
    let blocks = blocks_for(u64::from(context), 16);
    m.take_blocks(blocks);
    let r = &mut reqs[id];
    r.blocks = blocks as u32;
    r.prefill_target = context;
    r.prefilled = context;
    r.generated = generated;
    r.last_token = Some(SimTime::ZERO);
    m.join_decode(id, r);
    id
}

#[test]
fn retract_admits_within_sglang_estimate_only() {
    // 100 blocks of 16 tokens. One request decodes (2 blocks held, 999 output tokens
    // left): SGLang keeps 999 x 0.7 = 699.3 tokens for it, so 98 x 16 - 699.3 = 868.7
    // tokens are left for a new prompt plus its output.
    for (output, admitted) in [(600, false), (500, true)] {
        let mut m = admitting(Role::Aggregated, 100, 8, 512, Admission::Retract);
        let mut reqs = Requests::new();
        decoding(&mut m, &mut reqs, 32, 32, 1, 1000);
        let running = m.running_decode_estimate(&reqs);
        assert!((running - 699.3).abs() < 1e-9, "{running}");
        assert!((m.rem_total_tokens(0, running, 0) - 868.7).abs() < 1e-9);
        let a = request(&mut reqs, 320, output);
        m.enqueue_prefill(a);
        let mut preempted = Vec::new();
        let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
        // 320 + 600 = 920 >= 868.7 waits; 320 + 500 = 820 goes in.
        assert_eq!(plan.chunks.contains(&(a, 320)), admitted, "output {output}");
        assert_eq!(m.batch_full, !admitted);
        assert!(preempted.is_empty());
    }
}

#[test]
fn retract_estimate_clips_long_outputs_and_full_batch_waits_for_a_departure() {
    let mut m = admitting(Role::Aggregated, 1000, 8, 512, Admission::Retract);
    let mut reqs = Requests::new();
    // 100000 output tokens left count CLIP_MAX_NEW_TOKENS (4096) x 0.7.
    let long = decoding(&mut m, &mut reqs, 32, 32, 1, 100_001);
    let short = decoding(&mut m, &mut reqs, 32, 32, 1, 3);
    let running = m.running_decode_estimate(&reqs);
    assert!((running - (4096.0 + 2.0) * 0.7).abs() < 1e-9, "{running}");
    // 996 x 16 = 15936 tokens free; 15936 - 2868.6 = 13067.4: a prompt of 11080 tokens
    // with 2000 output tokens (13080) does not fit; the batch is full until a request
    // leaves.
    let a = request(&mut reqs, 11_080, 2000);
    m.enqueue_prefill(a);
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    assert!(plan.chunks.is_empty() && plan.decode);
    assert!(m.batch_full);
    m.begin_step(plan);
    m.end_step(SimTime(1));
    m.complete_decode_step(SimTime(1), &mut reqs, &mut |_, _| {});
    assert_eq!(m.pop_finished(&mut reqs, SimTime(1)), None);
    // Still full: nothing left, although the ratio decayed.
    let plan = m.plan_step(SimTime(1), &mut reqs, &mut preempted).unwrap();
    assert!(plan.chunks.is_empty());
    m.begin_step(plan);
    m.end_step(SimTime(2));
    m.complete_decode_step(SimTime(2), &mut reqs, &mut |_, _| {});
    assert!(m.batch_full);
    // `short` finishes: the batch shrank and the prompt is tried again. It fits now:
    // 997 blocks are free (15952 tokens) and `long` counts 4096 x 0.697993 = 2859.0, so
    // 13093.0 > 13080.
    assert_eq!(m.pop_finished(&mut reqs, SimTime(2)), Some(short));
    assert!(!m.batch_full);
    let plan = m.plan_step(SimTime(2), &mut reqs, &mut preempted).unwrap();
    // (decode first: `long`'s token takes one of the 512.)
    assert_eq!(plan.chunks, vec![(a, 511)]);
    assert!(preempted.is_empty());
    let _ = long;
}

#[test]
fn retract_ratio_decays_per_decode_step_to_its_floor() {
    let mut m = admitting(Role::Aggregated, 1000, 8, 512, Admission::Retract);
    let mut reqs = Requests::new();
    decoding(&mut m, &mut reqs, 32, 32, 1, 2000);
    assert_eq!(m.new_token_ratio(), retract::INIT_NEW_TOKEN_RATIO);
    let mut preempted = Vec::new();
    for k in 1..=700u64 {
        let plan = m.plan_step(SimTime(k), &mut reqs, &mut preempted).unwrap();
        assert!(plan.decode);
        m.begin_step(plan);
        m.end_step(SimTime(k + 1));
        m.complete_decode_step(SimTime(k + 1), &mut reqs, &mut |_, _| {});
        let expected = (retract::INIT_NEW_TOKEN_RATIO
            - k as f64 * retract::NEW_TOKEN_RATIO_DECAY)
            .max(retract::MIN_NEW_TOKEN_RATIO);
        assert!((m.new_token_ratio() - expected).abs() < 1e-9, "step {k}");
    }
    assert_eq!(m.new_token_ratio(), retract::MIN_NEW_TOKEN_RATIO);
}

#[test]
fn retraction_takes_fewest_outputs_then_longest_prompt_then_newest_and_resets_the_ratio() {
    // Four decoding requests of 32 tokens (2 blocks each) fill 8 blocks; each needs a new
    // block for its next token. Retract until the rest fit: c (1 output token, the
    // longest prompt), then d (1 output token, as b, but newer); a (5 output tokens) and
    // b stay.
    for role in [Role::Aggregated, Role::Decode] {
        let mut m = admitting(role, 8, 8, 512, Admission::Retract);
        let mut reqs = Requests::new();
        let a = decoding(&mut m, &mut reqs, 32, 32, 5, 100);
        let b = decoding(&mut m, &mut reqs, 32, 32, 1, 100);
        let c = decoding(&mut m, &mut reqs, 48, 32, 1, 100);
        let d = decoding(&mut m, &mut reqs, 32, 32, 1, 100);
        assert_eq!(m.retraction_victim(&reqs), Some(c));
        let mut preempted = Vec::new();
        let plan = m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
        assert_eq!(preempted, vec![c, d], "{role:?}");
        assert_eq!(plan.shape.decode_seqs, 2);
        assert_eq!(m.queued(), 2);
        for id in [c, d] {
            assert_eq!(reqs[id].phase, Phase::Waiting);
            assert_eq!(reqs[id].prefill_target, reqs[id].input_tokens + 1);
        }
        // (5 + 1 output tokens + 20 x 2 requests) / (100 + 100) = 0.23.
        assert!((m.new_token_ratio() - 0.23).abs() < 1e-12, "{role:?}");
        // Blocks: a and b hold 2 each plus 1 for this step's token.
        assert_account(&m, 6);
        let _ = (a, b);
    }
}

#[test]
fn retracted_requests_queue_behind_the_waiting_ones() {
    // A waiting prompt too large for the KV left stays at the head; the retracted request
    // queues behind it (SGLang appends retracted requests to its waiting queue).
    let mut m = admitting(Role::Decode, 4, 8, 512, Admission::Retract);
    let mut reqs = Requests::new();
    let old = decoding(&mut m, &mut reqs, 32, 32, 3, 100);
    let new = decoding(&mut m, &mut reqs, 32, 32, 1, 100);
    let head = request(&mut reqs, 64, 10);
    m.enqueue_prefill(head);
    let mut preempted = Vec::new();
    m.plan_step(SimTime::ZERO, &mut reqs, &mut preempted).unwrap();
    assert_eq!(preempted, vec![new]);
    assert_eq!(m.waiting.iter().copied().collect::<Vec<_>>(), vec![head, new]);
    let _ = old;
}

/// Run one step of aggregated instance `m` at `t` (ns) and apply it: prompts that
/// complete join the decode set (long outputs: nobody finishes). Returns its prefill
/// chunks' request ids.
fn one_step(m: &mut Instance, reqs: &mut Requests, t: u64) -> Vec<RequestId> {
    let mut preempted = Vec::new();
    let plan = m.plan_step(SimTime(t), reqs, &mut preempted).expect("work");
    assert!(preempted.is_empty());
    m.begin_step(plan);
    let plan = m.end_step(SimTime(t + 1_000));
    if plan.decode {
        m.complete_decode_step(SimTime(t + 1_000), reqs, &mut |_, _| {});
    }
    let mut ids = Vec::new();
    for (id, chunk) in plan.chunks {
        ids.push(id);
        let r = &mut reqs[id];
        r.prefilled += chunk;
        if r.prefilled == r.prefill_target {
            m.prompt_computed(id);
            let r = &mut reqs[id];
            r.generated += 1;
            r.last_token = Some(SimTime(t + 1_000));
            m.join_decode(id, r);
        }
    }
    ids
}

#[test]
fn batch_waiting_holds_prompts_while_others_decode() {
    use crate::scenario::ContextWait;
    let mut m = instance(Role::Aggregated, 1000, 8, 512);
    m.engine.context_wait = Some(ContextWait::Batch {
        timeout_iters: 2,
        max_tokens_ratio: 0.5,
    });
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(a);
    // Nothing decodes: a goes at once.
    assert_eq!(one_step(&mut m, &mut reqs, 0), vec![a]);
    // b (32 + 1 tokens, below half the 512-token budget) waits two steps.
    let b = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(b);
    assert!(one_step(&mut m, &mut reqs, 10_000).is_empty());
    assert!(one_step(&mut m, &mut reqs, 20_000).is_empty());
    assert_eq!(one_step(&mut m, &mut reqs, 30_000), vec![b]);
    // A prompt that fills half the budget goes at once, and the count starts again.
    let c = request(&mut reqs, 300, 1000);
    m.enqueue_prefill(c);
    assert_eq!(one_step(&mut m, &mut reqs, 40_000), vec![c]);
    let d = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(d);
    assert!(one_step(&mut m, &mut reqs, 50_000).is_empty());
}

#[test]
fn attention_dp_balance_waits_for_a_prompt_on_every_rank() {
    use crate::scenario::ContextWait;
    use xpyd_models::Parallelism;
    let dp2 = |timeout_iters, batching_wait_iters| {
        let mut m = instance(Role::Aggregated, 1000, 8, 4096);
        m.cost = CostModel::new(
            ModelArch::builtin("qwen3-32b").expect("catalog model"),
            GpuSpec::builtin("h100").expect("catalog gpu"),
            Parallelism {
                gpus: 2,
                dp: 2,
                ep: 1,
            },
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        );
        m.engine.context_wait = Some(ContextWait::AttentionDpBalance {
            timeout_iters,
            batching_wait_iters,
        });
        m
    };
    let mut m = dp2(3, 0);
    let mut reqs = Requests::new();
    // One sequence per rank runs (two prompts at once: every rank has one).
    let (a, c) = (request(&mut reqs, 32, 1000), request(&mut reqs, 32, 1000));
    m.enqueue_prefill(a);
    m.enqueue_prefill(c);
    assert_eq!(one_step(&mut m, &mut reqs, 0), vec![a, c]);
    // Two steps with no prompt anywhere: the counter runs (1, 2).
    assert!(one_step(&mut m, &mut reqs, 10_000).is_empty());
    assert!(one_step(&mut m, &mut reqs, 20_000).is_empty());
    // b alone, one rank without a prompt: the counter reaches the timeout (3) and b runs.
    let b = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(b);
    assert_eq!(one_step(&mut m, &mut reqs, 30_000), vec![b]);
    // The next lone prompt waits out a whole period.
    let d = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(d);
    for t in [40_000, 50_000] {
        assert!(one_step(&mut m, &mut reqs, t).is_empty(), "{t}");
    }
    assert_eq!(one_step(&mut m, &mut reqs, 60_000), vec![d]);
    // Two prompts (one per rank) go at once, after the batching wait when set.
    let mut m = dp2(50, 1);
    let mut reqs = Requests::new();
    let (a, c) = (request(&mut reqs, 32, 1000), request(&mut reqs, 32, 1000));
    m.enqueue_prefill(a);
    m.enqueue_prefill(c);
    assert_eq!(one_step(&mut m, &mut reqs, 0), vec![a, c]);
    let (b, d) = (request(&mut reqs, 32, 1000), request(&mut reqs, 32, 1000));
    m.enqueue_prefill(b);
    m.enqueue_prefill(d);
    assert!(one_step(&mut m, &mut reqs, 10_000).is_empty());
    assert_eq!(one_step(&mut m, &mut reqs, 20_000), vec![b, d]);
    // A rank with nothing to decode does not wait: one sequence runs, a prompt comes.
    let mut m = dp2(50, 0);
    let mut reqs = Requests::new();
    let a = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(a);
    assert_eq!(one_step(&mut m, &mut reqs, 0), vec![a]);
    let b = request(&mut reqs, 32, 1000);
    m.enqueue_prefill(b);
    assert_eq!(one_step(&mut m, &mut reqs, 10_000), vec![b]);
}
