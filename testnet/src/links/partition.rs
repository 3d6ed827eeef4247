//! A partition of the testnet's nodes into sides, as typed: `0,1 / 2,3,4`. Nodes left
//! out keep their links to every side.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a partition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Fewer than two sides.
    #[error("a partition needs two sides or more, split by '/': 0,1 / 2,3")]
    OneSide,
    /// A side names no node.
    #[error("side {0} of the partition names no node")]
    EmptySide(usize),
    /// Not a node number.
    #[error("{0:?} is not a node number")]
    NotANode(String),
    /// A node on two sides, or twice on one.
    #[error("node {0} is named twice")]
    Twice(usize),
}

/// Two sides or more, each a set of node numbers, no node named twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Vec<usize>>", into = "Vec<Vec<usize>>")]
pub struct Partition(Vec<BTreeSet<usize>>);

impl Partition {
    /// The sides, in the order given.
    pub fn sides(&self) -> &[BTreeSet<usize>] {
        &self.0
    }

    /// Every node named.
    pub fn nodes(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().flatten().copied()
    }

    /// Every pair of nodes on different sides, each way round: the one-way links to cut.
    pub fn crossings(&self) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, side) in self.0.iter().enumerate() {
            for (j, other) in self.0.iter().enumerate() {
                if i != j {
                    pairs.extend(
                        side.iter()
                            .flat_map(|&a| other.iter().map(move |&b| (a, b))),
                    );
                }
            }
        }
        pairs
    }
}

impl TryFrom<Vec<Vec<usize>>> for Partition {
    type Error = PartitionError;

    fn try_from(sides: Vec<Vec<usize>>) -> Result<Partition, PartitionError> {
        if sides.len() < 2 {
            return Err(PartitionError::OneSide);
        }
        let mut seen = BTreeSet::new();
        let mut result = Vec::with_capacity(sides.len());
        for (i, side) in sides.into_iter().enumerate() {
            if side.is_empty() {
                return Err(PartitionError::EmptySide(i + 1));
            }
            for &node in &side {
                if !seen.insert(node) {
                    return Err(PartitionError::Twice(node));
                }
            }
            result.push(side.into_iter().collect());
        }
        Ok(Partition(result))
    }
}

impl From<Partition> for Vec<Vec<usize>> {
    fn from(partition: Partition) -> Vec<Vec<usize>> {
        partition
            .0
            .into_iter()
            .map(|side| side.into_iter().collect())
            .collect()
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    /// `0,1 / 2,3,4`: sides split by `/`, nodes by commas or spaces.
    fn from_str(text: &str) -> Result<Partition, PartitionError> {
        let sides = text
            .split('/')
            .map(|side| {
                side.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|node| !node.is_empty())
                    .map(|node| {
                        node.parse()
                            .map_err(|_| PartitionError::NotANode(node.to_owned()))
                    })
                    .collect::<Result<Vec<usize>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Partition::try_from(sides)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sides: Vec<String> = self
            .0
            .iter()
            .map(|side| {
                side.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        write!(f, "{}", sides.join(" / "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_reads_as_typed_and_cuts_across_sides_only() {
        let partition: Partition = "0,1 / 2".parse().unwrap();
        assert_eq!(partition.to_string(), "0,1 / 2");
        assert_eq!(partition.crossings(), vec![(0, 2), (1, 2), (2, 0), (2, 1)]);
        let three: Partition = "0/1 2/ 3,4".parse().unwrap();
        assert_eq!(three.to_string(), "0 / 1,2 / 3,4");
        assert_eq!(three.crossings().len(), 2 * (2 + 2 + 4));
        assert_eq!(three.nodes().count(), 5);
    }

    #[test]
    fn a_bad_partition_is_refused_with_its_reason() {
        assert_eq!("0,1,2".parse::<Partition>(), Err(PartitionError::OneSide));
        assert_eq!(
            "0 / ".parse::<Partition>(),
            Err(PartitionError::EmptySide(2))
        );
        assert_eq!(
            "0 / 1,0".parse::<Partition>(),
            Err(PartitionError::Twice(0))
        );
        assert_eq!(
            "0,0 / 1".parse::<Partition>(),
            Err(PartitionError::Twice(0))
        );
        assert_eq!(
            "0 / one".parse::<Partition>(),
            Err(PartitionError::NotANode("one".into()))
        );
        assert_eq!(
            "0 / -1".parse::<Partition>(),
            Err(PartitionError::NotANode("-1".into()))
        );
        assert!(serde_json::from_value::<Partition>(serde_json::json!([[0], [0]])).is_err());
        assert_eq!(
            serde_json::from_value::<Partition>(serde_json::json!([[0, 1], [2]])).unwrap(),
            "0,1/2".parse().unwrap()
        );
    }
}
