//! One instance's step: `plan_step` over a decode set of 256 members, and the step's
//! cost (`CostModel::step_seconds`), on the chat deployment's decode instance.

use xpyd_models::CostModel;
use xpyd_sim::SimTime;
use xpyd_sim::id::{InstanceId, PortId};
use xpyd_sim::instance::{Instance, Placement, Ports, Role};
use xpyd_sim::request::{Request, Requests};
use xpyd_sim::scenario::Topology;

mod common;

fn main() {
    divan::main();
}

/// A decode instance with `n` decoding requests (prompts 200..1224 tokens) and a fresh
/// request table.
fn decode_instance(n: u32) -> (Instance, Requests) {
    let sc = common::scenario();
    let Topology::Disaggregated { decode, .. } = &sc.topology else {
        unreachable!("the bench scenario is disaggregated")
    };
    let cost = CostModel::new(
        sc.model.clone(),
        sc.gpu.clone(),
        decode.tp,
        sc.weights,
        sc.kv_cache,
        sc.efficiency.clone(),
    );
    let ports = Ports {
        nic_out: PortId(0),
        nic_in: PortId(1),
        local_out: PortId(2),
        local_in: PortId(3),
    };
    let placement = Placement {
        node: 0,
        multi_node: false,
        ports,
        load_port: PortId(4),
    };
    let mut inst = Instance::new(
        InstanceId(0),
        Role::Decode,
        cost,
        0,
        decode.engine.clone(),
        decode.tp,
        decode.memory.kv_capacity_tokens,
        placement,
    );
    let mut reqs = Requests::new();
    for k in 0..n {
        let input = 200 + (k * 37) % 1024;
        let mut r = Request::new(u64::from(k), SimTime::ZERO, input, 400 + k, None);
        r.prefilled = input;
        r.generated = 1;
        let blocks = u64::from(input).div_ceil(u64::from(inst.block_tokens()));
        inst.take_blocks(blocks);
        r.blocks = blocks as u32;
        let id = reqs.next_id();
        inst.join_decode(id, &mut r);
        reqs.push(r);
    }
    (inst, reqs)
}

#[divan::bench]
fn plan_step_256(bencher: divan::Bencher) {
    let (inst, reqs) = decode_instance(256);
    bencher
        .with_inputs(|| (inst.clone(), reqs.clone(), Vec::new()))
        .bench_local_refs(|(inst, reqs, preempted)| {
            inst.plan_step(SimTime(1_000_000), reqs, preempted)
        });
}

#[divan::bench]
fn plan_and_cost_256(bencher: divan::Bencher) {
    let (inst, reqs) = decode_instance(256);
    bencher
        .with_inputs(|| (inst.clone(), reqs.clone(), Vec::new()))
        .bench_local_refs(|(inst, reqs, preempted)| {
            let plan = inst
                .plan_step(SimTime(1_000_000), reqs, preempted)
                .expect("a decode step");
            inst.cost().step_seconds(&plan.shape)
        });
}
