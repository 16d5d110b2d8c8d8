//! A sorted key index (`Type/id` and URL keys to values): binary search over
//! a vector. It stands in for `HashMap` because the wasm build is smaller
//! without hashbrown and a random hasher, and pages are at most a few
//! thousand entries.

/// An immutable map from string keys to small numbers (indices); the first
/// value given for a key wins. Not generic, so the wasm carries one copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyIndex {
    entries: Vec<(String, u32)>,
}

impl KeyIndex {
    /// Builds the index; for repeated keys the earliest entry is kept.
    pub fn new(entries: Vec<(String, u32)>) -> KeyIndex {
        let order = first_of_each_sorted(&entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
        KeyIndex {
            entries: order.iter().map(|&i| entries[i].clone()).collect(),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<u32> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

/// The positions of the first occurrence of each distinct key, in key
/// order. One non-generic routine (binary insertion) instead of a sort per
/// element type: the wasm build carries one copy.
pub fn first_of_each_sorted(keys: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        if let Err(at) = order.binary_search_by(|&j| keys[j].cmp(key)) {
            order.insert(at, i);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_lookups_find_every_key() {
        let idx = KeyIndex::new(vec![
            ("b".into(), 1),
            ("a".into(), 2),
            ("b".into(), 3),
            ("c".into(), 4),
        ]);
        assert_eq!(idx.get("b"), Some(1));
        assert_eq!(idx.get("a"), Some(2));
        assert_eq!(idx.get("c"), Some(4));
        assert_eq!(idx.get("d"), None);
        assert!(idx.contains("a") && !idx.contains(""));
        assert_eq!(idx.keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(KeyIndex::default().get("a"), None);
    }
}
