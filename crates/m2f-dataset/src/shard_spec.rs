//! `--shard i/n`: which part of a source manifest one extraction job handles.

use std::fmt;
use std::str::FromStr;

use crate::error::DatasetError;

/// Part `index` of `count` (0-based): the job handles the source clips at positions
/// `p` with `p % count == index`, so parts are balanced and any batch engine can run them
/// (a Kubernetes indexed job or a Slurm array passes its task index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// Which part, `0..count`.
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

impl ShardSpec {
    /// The whole manifest in one part.
    pub const ALL: ShardSpec = ShardSpec { index: 0, count: 1 };

    /// Whether the clip at `position` of the manifest belongs to this part.
    pub fn contains(&self, position: usize) -> bool {
        position as u64 % self.count as u64 == self.index as u64
    }

    /// The file stem of this part's manifest and failure list: `shard-00003-of-00010`.
    pub fn stem(&self) -> String {
        format!("shard-{:05}-of-{:05}", self.index, self.count)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = DatasetError;

    /// Parses `i/n` with `0 <= i < n`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| DatasetError::invalid(format!("--shard {s:?}"), why.to_string());
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected INDEX/COUNT, e.g. 0/1 or 3/10"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| bad("INDEX must be a whole number >= 0"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| bad("COUNT must be a whole number >= 1"))?;
        if count == 0 {
            return Err(bad("COUNT must be at least 1"));
        }
        if index >= count {
            return Err(bad(
                "INDEX must be less than COUNT (parts are numbered from 0)",
            ));
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let s: ShardSpec = "3/10".parse().unwrap();
        assert_eq!(
            s,
            ShardSpec {
                index: 3,
                count: 10
            }
        );
        assert!(s.contains(13) && !s.contains(14));
        assert_eq!(s.stem(), "shard-00003-of-00010");
        for bad in ["3/2", "0/0", "2/2", "-1/3", "a/b", "3", "", "1/2/3"] {
            let err = bad.parse::<ShardSpec>().unwrap_err().to_string();
            assert!(err.contains("--shard"), "{bad}: {err}");
        }
    }

    #[test]
    fn parts_cover_every_position_once() {
        let n = 7;
        for p in 0..100 {
            let owners = (0..n)
                .filter(|&i| ShardSpec { index: i, count: n }.contains(p))
                .count();
            assert_eq!(owners, 1);
        }
    }
}
