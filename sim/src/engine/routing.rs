//! The routers' view of the instances, kept in step with them one change at a time, so a
//! routing decision costs time in what changed since the last one (and in the router's
//! own indexes), not in the number of instances.
//!
//! Invariants:
//! - Every mutable borrow of an instance goes through [`Instances`], which marks it
//!   changed for each routing side (0: prefill or aggregated pool, 1: decode pool) whose
//!   pool holds it; nothing escapes, so a side that refreshes its changed instances
//!   before a decision sees exactly what a scan of every instance would.
//! - A side's [`Pool`] holds the loads of its pool's ready instances in pool order, as
//!   a fresh scan would build them (checked by `debug_assert!` at every decision); the
//!   ready set changes only through a full rebuild (rare: scaling, failures).
//! - KV events: an instance in the pool of a router that wants them publishes them; they
//!   are taken when the instance is refreshed for any side and given, in order, to every
//!   such router whose pool holds it. An instance with events not taken is marked
//!   changed for every side of its pools, so each router has them all before it decides.

use crate::id::{Id, IdVec, InstanceId};
use crate::instance::Instance;
use crate::policy::router::{InstanceLoad, Pool, RouteRequest, Router};
use crate::rng::SimRng;
use std::ops::{Index, IndexMut};

/// The simulation's instances, recording which ones changed for each routing side.
pub(super) struct Instances {
    items: IdVec<InstanceId, Instance>,
    /// Per instance: bit `s` set when side `s`'s pool holds it.
    sides: Vec<u8>,
    /// Per instance: bit `s` set when it changed since side `s` last refreshed it.
    stale: Vec<u8>,
    /// Per side: the instances with their bit set in `stale`.
    changed: [Vec<InstanceId>; 2],
}

impl Instances {
    /// `items`, each in the pools `pools[s]` name.
    pub(super) fn new(items: IdVec<InstanceId, Instance>, pools: [&[InstanceId]; 2]) -> Self {
        let mut sides = vec![0u8; items.len()];
        for (s, pool) in pools.iter().enumerate() {
            for &i in *pool {
                sides[i.index()] |= 1 << s;
            }
        }
        Instances {
            stale: vec![0; items.len()],
            sides,
            items,
            changed: [Vec::new(), Vec::new()],
        }
    }

    /// Number of instances.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The instances in id order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Instance> {
        self.items.iter()
    }

    /// The instances in id order, mutably (every one counts as changed).
    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Instance> {
        for i in self.items.ids() {
            self.touch(i);
        }
        self.items.iter_mut()
    }

    /// The ids in order.
    pub(super) fn ids(&self) -> impl Iterator<Item = InstanceId> + use<> {
        self.items.ids()
    }

    /// Mark instance `i` changed for every side holding it.
    fn touch(&mut self, i: InstanceId) {
        let k = i.index();
        let fresh = self.sides[k] & !self.stale[k];
        if fresh != 0 {
            self.stale[k] |= fresh;
            for (s, changed) in self.changed.iter_mut().enumerate() {
                if fresh & (1 << s) != 0 {
                    changed.push(i);
                }
            }
        }
    }
}

impl Index<InstanceId> for Instances {
    type Output = Instance;
    fn index(&self, i: InstanceId) -> &Instance {
        &self.items[i]
    }
}

impl IndexMut<InstanceId> for Instances {
    fn index_mut(&mut self, i: InstanceId) -> &mut Instance {
        self.touch(i);
        &mut self.items[i]
    }
}

/// What a router sees of instance `x`.
fn load_of(x: &Instance) -> InstanceLoad {
    InstanceLoad {
        id: x.id().0,
        outstanding: x.outstanding(),
        waiting: x.queued(),
        running: x.running(),
        kv_utilization: x.kv_utilization(),
        active_tokens: x.assigned_tokens(),
    }
}

/// One routing side: a pool, its router and the router's random stream.
struct Side {
    pool: Pool,
    rng: SimRng,
    /// The pool's instances, in pool order.
    members: Vec<InstanceId>,
    /// The ready ones, in pool order: the instances of `pool`'s loads.
    ready: Vec<InstanceId>,
    /// Per instance: its position in `ready`, or `NOT_READY`.
    at: Vec<u32>,
}

const NOT_READY: u32 = u32::MAX;

impl Side {
    /// Rebuild the ready set and the router's view from scratch.
    fn rebuild(&mut self, insts: &Instances) {
        self.at.fill(NOT_READY);
        self.ready.clear();
        for &i in &self.members {
            if insts[i].is_ready() {
                self.at[i.index()] = self.ready.len() as u32;
                self.ready.push(i);
            }
        }
        self.pool
            .reset(self.ready.iter().map(|&i| load_of(&insts[i])));
    }
}

/// The two routing sides of the simulation.
pub(super) struct Routing {
    sides: [Side; 2],
}

impl Routing {
    /// Routers over the pools (0: prefill or aggregated, 1: decode; empty for a router
    /// never asked) of `insts`, with their random streams. Instances behind a router that
    /// wants KV events publish them.
    pub(super) fn new(
        insts: &mut Instances,
        routers: [Box<dyn Router + Send>; 2],
        rngs: [SimRng; 2],
        pools: [Vec<InstanceId>; 2],
    ) -> Routing {
        let n = insts.len();
        let [r0, r1] = routers;
        let [g0, g1] = rngs;
        let [p0, p1] = pools;
        let side = |router, rng, members| Side {
            pool: Pool::new(router),
            rng,
            members,
            ready: Vec::new(),
            at: vec![NOT_READY; n],
        };
        let mut sides = [side(r0, g0, p0), side(r1, g1, p1)];
        for s in &mut sides {
            if s.pool.wants_kv_events() {
                for &i in &s.members {
                    insts.items[i].publish_kv_events();
                }
            }
            s.rebuild(insts);
        }
        Routing { sides }
    }

    /// Bring side `s`'s router up to date with the instances.
    fn refresh(&mut self, s: usize, insts: &mut Instances) {
        let mut changed = std::mem::take(&mut insts.changed[s]);
        let mut rebuild = false;
        for &i in &changed {
            let k = i.index();
            insts.stale[k] &= !(1 << s);
            let x = &mut insts.items[i];
            for ev in x.take_kv_events() {
                for (t, side) in self.sides.iter_mut().enumerate() {
                    if insts.sides[k] & (1 << t) != 0 && side.pool.wants_kv_events() {
                        side.pool.kv_event(i.0, ev);
                    }
                }
            }
            let side = &mut self.sides[s];
            let p = side.at[k];
            if x.is_ready() != (p != NOT_READY) {
                rebuild = true;
            } else if p != NOT_READY && !rebuild {
                side.pool.set(p as usize, load_of(x));
            }
        }
        changed.clear();
        insts.changed[s] = changed;
        if rebuild {
            self.sides[s].rebuild(insts);
        }
        #[cfg(debug_assertions)]
        {
            let side = &self.sides[s];
            let fresh: Vec<InstanceLoad> = side
                .members
                .iter()
                .filter(|&&i| insts[i].is_ready())
                .map(|&i| load_of(&insts[i]))
                .collect();
            debug_assert!(
                side.pool.loads() == fresh.as_slice(),
                "side {s}: the router's view drifted from the instances"
            );
        }
    }

    /// Route `req` on side `s`: the chosen ready instance and the prompt tokens its router
    /// believes are cached there; `None` when no instance of the pool is ready.
    pub(super) fn route(
        &mut self,
        s: usize,
        insts: &mut Instances,
        req: &RouteRequest,
    ) -> Option<(InstanceId, u64)> {
        assert!(
            !self.sides[s].members.is_empty(),
            "routing side {s}: the flow said it never routes there"
        );
        self.refresh(s, insts);
        let side = &mut self.sides[s];
        if side.ready.is_empty() {
            return None;
        }
        let k = side.pool.route(req, &mut side.rng);
        Some((side.ready[k], side.pool.believed_cached_tokens(k, req)))
    }
}
