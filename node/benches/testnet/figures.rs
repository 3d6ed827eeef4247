//! What the benchmark computes from its observations: percentiles, and the network's
//! shape, which sets the fastest any relay can reach every node.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::net::Link;

/// The nearest-rank percentile `p` (0 to 1) of `values`; `None` if there are none.
pub(crate) fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// When the `share` (0 to 1) of `arrivals` had arrived, counting `total` nodes: `None`
/// if fewer did.
pub(crate) fn reach(arrivals: &[Duration], share: f64, total: usize) -> Option<Duration> {
    let needed = ((share * total as f64).ceil() as usize).max(1);
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    sorted.get(needed - 1).copied()
}

/// Milliseconds, for printing.
pub(crate) fn ms(duration: Option<Duration>) -> String {
    duration.map_or("-".into(), |d| {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    })
}

/// Who is connected to whom.
pub(crate) struct Topology {
    neighbours: Vec<Vec<usize>>,
}

impl Topology {
    /// The connections open now, from the link layer's report.
    pub(crate) fn from_links(links: &[Link], nodes: usize) -> Topology {
        let edges: BTreeSet<(usize, usize)> = links
            .iter()
            .filter(|l| l.connections > 0 && l.from != l.to && l.from < nodes && l.to < nodes)
            .map(|l| (l.from.min(l.to), l.from.max(l.to)))
            .collect();
        let mut neighbours = vec![Vec::new(); nodes];
        for (a, b) in edges {
            neighbours[a].push(b);
            neighbours[b].push(a);
        }
        Topology { neighbours }
    }

    /// Connections (each counted once).
    pub(crate) fn connections(&self) -> usize {
        self.neighbours.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// The fewest and most connections a node has.
    pub(crate) fn degree_range(&self) -> (usize, usize) {
        let degrees = self.neighbours.iter().map(Vec::len);
        (
            degrees.clone().min().unwrap_or(0),
            degrees.max().unwrap_or(0),
        )
    }

    /// Hops from `origin` to each node (`None`: unreachable).
    pub(crate) fn hops_from(&self, origin: usize) -> Vec<Option<usize>> {
        let mut hops = vec![None; self.neighbours.len()];
        let mut queue = VecDeque::new();
        if let Some(first) = hops.get_mut(origin) {
            *first = Some(0);
            queue.push_back(origin);
        }
        while let Some(node) = queue.pop_front() {
            let here = hops[node].unwrap_or(0);
            for &next in &self.neighbours[node] {
                if hops[next].is_none() {
                    hops[next] = Some(here + 1);
                    queue.push_back(next);
                }
            }
        }
        hops
    }

    /// The most hops between any two nodes; `None` if some cannot reach each other.
    pub(crate) fn diameter(&self) -> Option<usize> {
        (0..self.neighbours.len())
            .map(|origin| self.hops_from(origin).into_iter().max().flatten())
            .collect::<Option<Vec<usize>>>()
            .and_then(|eccentricities| eccentricities.into_iter().max())
    }

    /// The hops relay needs from `origin` to reach `share` of the nodes.
    pub(crate) fn hops_to_reach(&self, origin: usize, share: f64) -> Option<usize> {
        let mut hops: Vec<usize> = self.hops_from(origin).into_iter().flatten().collect();
        hops.sort();
        let needed = ((share * self.neighbours.len() as f64).ceil() as usize).max(1);
        hops.get(needed - 1).copied()
    }
}
