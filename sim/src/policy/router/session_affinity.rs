//! Session affinity: every request of a conversation goes to the instance that served
//! its first turn (the GAIE session-affinity scorer's behaviour, with the conversation
//! id standing for the session cookie); new sessions and requests without one go to the
//! instance with the fewest outstanding requests.

use super::{InstanceLoad, RouteRequest, Router, argmin_by};
use crate::rng::SimRng;
use std::collections::BTreeMap;

/// Sticky sessions.
#[derive(Debug, Default)]
pub struct SessionAffinity {
    homes: BTreeMap<u64, u16>,
}

impl Router for SessionAffinity {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], _rng: &mut SimRng) -> usize {
        if let Some(s) = req.session
            && let Some(&home) = self.homes.get(&s)
            && let Some(i) = loads.iter().position(|l| l.id == home)
        {
            return i;
        }
        let pick = argmin_by(loads.iter().map(|l| l.outstanding));
        if let Some(s) = req.session {
            self.homes.insert(s, loads[pick].id);
        }
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    #[test]
    fn sessions_stick_new_ones_balance() {
        let mut r = SessionAffinity::default();
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let mut loads = vec![InstanceLoad::default(); 2];
        let s1 = RouteRequest {
            session: Some(1),
            ..Default::default()
        };
        assert_eq!(r.route(&s1, &loads, &mut rng), 0);
        loads[0].outstanding = 5;
        assert_eq!(r.route(&s1, &loads, &mut rng), 0, "sticky despite load");
        let s2 = RouteRequest {
            session: Some(2),
            ..Default::default()
        };
        assert_eq!(r.route(&s2, &loads, &mut rng), 1);
    }
}
