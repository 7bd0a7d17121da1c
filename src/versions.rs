//! Supported Kubernetes releases: the table every version-dependent choice reads from.

use crate::topology::Version;

/// One supported minor release.
#[derive(Debug)]
pub struct Minor {
    pub minor: u32,
}

/// Supported minors, oldest first.
pub const MINORS: &[Minor] =
    &[Minor { minor: 33 }, Minor { minor: 34 }, Minor { minor: 35 }, Minor { minor: 36 }, Minor { minor: 37 }];

pub fn lookup(v: Version) -> Option<&'static Minor> {
    if v.major != 1 {
        return None;
    }
    MINORS.iter().find(|m| m.minor == v.minor)
}

pub fn is_supported(v: Version) -> bool {
    lookup(v).is_some()
}

pub fn supported_list() -> String {
    MINORS.iter().map(|m| format!("1.{}", m.minor)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_contiguous() {
        for w in MINORS.windows(2) {
            assert_eq!(w[0].minor + 1, w[1].minor);
        }
        assert!(is_supported(Version { major: 1, minor: 36, patch: 2 }));
        assert!(!is_supported(Version { major: 2, minor: 36, patch: 0 }));
        assert!(!is_supported(Version { major: 1, minor: 32, patch: 0 }));
        assert_eq!(supported_list(), "1.33, 1.34, 1.35, 1.36, 1.37");
    }
}
