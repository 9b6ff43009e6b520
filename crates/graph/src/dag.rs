//! Pure graph algorithms over a project's edges: paths (cycle detection), descendants and
//! ancestors in topological order. One load of the project's edges serves them all.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use uuid::Uuid;

/// Adjacency lists of a set of edges.
#[derive(Debug, Default, Clone)]
pub struct Dag {
    children: HashMap<Uuid, Vec<Uuid>>,
    parents: HashMap<Uuid, Vec<Uuid>>,
}

impl Dag {
    /// The graph of these `(source, target)` edges.
    pub fn new(edges: impl IntoIterator<Item = (Uuid, Uuid)>) -> Self {
        let mut dag = Dag::default();
        for (s, t) in edges {
            dag.add(s, t);
        }
        dag
    }

    /// Adds an edge.
    pub fn add(&mut self, source: Uuid, target: Uuid) {
        self.children.entry(source).or_default().push(target);
        self.parents.entry(target).or_default().push(source);
    }

    /// A shortest path `from ⇝ to` (both included), if any.
    pub fn path(&self, from: Uuid, to: Uuid) -> Option<Vec<Uuid>> {
        let mut prev: HashMap<Uuid, Uuid> = HashMap::new();
        let mut seen = HashSet::from([from]);
        let mut queue = VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut path = vec![to];
                let mut cur = to;
                while let Some(&p) = prev.get(&cur) {
                    path.push(p);
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            for &c in self.children.get(&n).into_iter().flatten() {
                if seen.insert(c) {
                    prev.insert(c, n);
                    queue.push_back(c);
                }
            }
        }
        None
    }

    /// The cycle that adding `source → target` would close, as a path
    /// `target ⇝ source → target`, if any.
    pub fn cycle_with(&self, source: Uuid, target: Uuid) -> Option<Vec<Uuid>> {
        let mut path = self.path(target, source)?;
        path.push(target);
        Some(path)
    }

    /// Every node reachable from `start` (excluded), nearest first.
    pub fn descendants(&self, start: Uuid) -> Vec<Uuid> {
        walk(start, &self.children)
    }

    /// Every node that reaches `start` (excluded), in topological order: roots first, each
    /// node after all of its own ancestors; ties broken by id (creation order).
    pub fn ancestors(&self, start: Uuid) -> Vec<Uuid> {
        let set: HashSet<Uuid> = walk(start, &self.parents).into_iter().collect();
        let mut indegree: HashMap<Uuid, usize> = set
            .iter()
            .map(|n| {
                (
                    *n,
                    self.parents
                        .get(n)
                        .into_iter()
                        .flatten()
                        .filter(|p| set.contains(p))
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<Uuid> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(set.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for c in self.children.get(&n).into_iter().flatten() {
                if let Some(d) = indegree.get_mut(c) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(*c);
                    }
                }
            }
        }
        order
    }

    /// Direct parents of a node.
    pub fn parents_of(&self, n: Uuid) -> &[Uuid] {
        self.parents.get(&n).map_or(&[], Vec::as_slice)
    }

    /// Direct children of a node.
    pub fn children_of(&self, n: Uuid) -> &[Uuid] {
        self.children.get(&n).map_or(&[], Vec::as_slice)
    }
}

fn walk(start: Uuid, next: &HashMap<Uuid, Vec<Uuid>>) -> Vec<Uuid> {
    let mut seen = HashSet::from([start]);
    let mut out = vec![];
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &c in next.get(&n).into_iter().flatten() {
            if seen.insert(c) {
                out.push(c);
                queue.push_back(c);
            }
        }
    }
    out
}

impl Dag {
    /// A cycle through `n` (`n ⇝ n`), if any.
    pub fn path_through(&self, n: Uuid) -> Option<Vec<Uuid>> {
        self.children_of(n).iter().find_map(|c| {
            let mut p = self.path(*c, n)?;
            p.insert(0, n);
            Some(p)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect()
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        let n = ids(4);
        let dag = Dag::new([(n[0], n[1]), (n[1], n[2]), (n[2], n[3])]);
        assert_eq!(
            dag.cycle_with(n[3], n[0]),
            Some(vec![n[0], n[1], n[2], n[3], n[0]])
        );
        assert_eq!(
            dag.cycle_with(n[0], n[3]),
            None,
            "a shortcut is not a cycle"
        );
        assert_eq!(dag.cycle_with(n[1], n[1]), Some(vec![n[1], n[1]]));
    }

    #[test]
    fn ancestors_come_root_first_in_topological_order() {
        // a → b → d, a → c → d, d → e; x → c
        let n = ids(6);
        let (a, b, c, d, e, x) = (n[0], n[1], n[2], n[3], n[4], n[5]);
        let dag = Dag::new([(a, b), (a, c), (b, d), (c, d), (d, e), (x, c)]);
        let anc = dag.ancestors(e);
        assert_eq!(anc.len(), 5);
        let pos = |n: Uuid| anc.iter().position(|m| *m == n).unwrap();
        for (s, t) in [(a, b), (a, c), (b, d), (c, d), (x, c)] {
            assert!(pos(s) < pos(t), "{s} before {t}");
        }
        assert_eq!(anc, vec![a, b, x, c, d], "ties broken by id");
        assert_eq!(dag.ancestors(a), Vec::<Uuid>::new());
    }

    #[test]
    fn descendants_nearest_first() {
        let n = ids(4);
        let dag = Dag::new([(n[0], n[1]), (n[1], n[2]), (n[0], n[3]), (n[3], n[2])]);
        assert_eq!(dag.descendants(n[0]), vec![n[1], n[3], n[2]]);
        assert!(dag.descendants(n[2]).is_empty());
    }

    #[test]
    fn large_chains_stay_linear() {
        let n = ids(10_000);
        let dag = Dag::new(n.windows(2).map(|w| (w[0], w[1])));
        assert_eq!(dag.ancestors(n[9_999]).len(), 9_999);
        assert_eq!(dag.descendants(n[0]).len(), 9_999);
        assert!(dag.cycle_with(n[9_999], n[0]).is_some());
    }
}
