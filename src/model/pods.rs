//! Pod-range allocation: every worker without a `podCIDR` gets a block of the cluster range, chosen
//! by its name, never overlapping another (explicit ranges of any size included).

use super::net::Cidr;
use super::{Node, Role};
use crate::error::Problem;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Slot ranges already taken, as disjoint inclusive intervals `start -> end` (adjacent ones merged).
#[derive(Default)]
struct Taken(BTreeMap<u128, u128>);

impl Taken {
    fn insert(&mut self, mut start: u128, mut end: u128) {
        // Merge with every interval that overlaps or touches [start, end].
        if let Some((&s, &e)) = self.0.range(..=start).next_back() {
            if e.saturating_add(1) >= start {
                start = s;
                end = end.max(e);
            }
        }
        let touching: Vec<(u128, u128)> = self.0.range(start..=end.saturating_add(1)).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            self.0.remove(&s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// The interval holding `slot`, if taken.
    fn holding(&self, slot: u128) -> Option<(u128, u128)> {
        self.0.range(..=slot).next_back().filter(|(_, &e)| e >= slot).map(|(&s, &e)| (s, e))
    }

    fn count(&self) -> u128 {
        self.0.iter().map(|(s, e)| e - s + 1).fold(0u128, u128::saturating_add)
    }
}

/// Gives every worker without a `podCIDR` a block of `/mask` from `cluster`.
///
/// Stable under change: a node's block is picked by hashing its name to a slot and probing forward
/// past slots already taken by explicit ranges (whole ranges, however large) or by auto-allocated
/// nodes listed before it. Adding a node (at the end of the list) therefore never moves another
/// node's range.
pub(super) fn allocate(nodes: &mut [Node], cluster: Cidr, mask: u8) -> Result<(), Problem> {
    let Some(slots) = cluster.subnet_count(mask) else { return Ok(()) };
    let wanted = nodes.iter().filter(|n| n.has(Role::Worker) && n.pod_cidr.is_none()).count() as u128;
    let mut taken = Taken::default();
    for t in nodes.iter().filter_map(|n| n.pod_cidr) {
        if let Some((first, last)) = cluster.subnet_span(mask, &t) {
            taken.insert(first, last);
        }
    }
    let free = slots.saturating_sub(taken.count());
    if wanted > free {
        return Err(Problem::new(
            "cluster.network.podCIDR",
            format!("{cluster} holds {free} free /{mask} ranges but {wanted} workers need one"),
        ));
    }
    for n in nodes.iter_mut().filter(|n| n.has(Role::Worker) && n.pod_cidr.is_none()) {
        let h = Sha256::digest(n.name.as_bytes());
        let mut start = [0u8; 16];
        start.copy_from_slice(&h[..16]);
        let mut slot = u128::from_be_bytes(start) % slots;
        // At least one slot is free (counted above): each step leaves a taken interval behind.
        while let Some((_, end)) = taken.holding(slot) {
            slot = if end + 1 >= slots { 0 } else { end + 1 };
        }
        taken.insert(slot, slot);
        n.pod_cidr = cluster.subnet(mask, slot);
        n.pod_cidr_allocated = true;
    }
    Ok(())
}
