//! A sorted key index (`Type/id` and URL keys to values): binary search over
//! a vector. It stands in for `HashMap` because the wasm build is smaller
//! without hashbrown and a random hasher, and pages are at most a few
//! thousand entries.

/// An immutable map from string keys to values; the first value given for
/// a key wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIndex<T> {
    entries: Vec<(String, T)>,
}

impl<T> Default for KeyIndex<T> {
    fn default() -> Self {
        KeyIndex { entries: Vec::new() }
    }
}

impl<T> KeyIndex<T> {
    /// Builds the index; for repeated keys the earliest entry is kept.
    pub fn new(entries: Vec<(String, T)>) -> KeyIndex<T> {
        let mut numbered: Vec<(usize, (String, T))> = entries.into_iter().enumerate().collect();
        numbered.sort_unstable_by(|a, b| a.1 .0.cmp(&b.1 .0).then(a.0.cmp(&b.0)));
        numbered.dedup_by(|later, earlier| later.1 .0 == earlier.1 .0);
        KeyIndex {
            entries: numbered.into_iter().map(|(_, e)| e).collect(),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.entries[i].1)
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
        assert_eq!(idx.get("b"), Some(&1));
        assert_eq!(idx.get("a"), Some(&2));
        assert_eq!(idx.get("c"), Some(&4));
        assert_eq!(idx.get("d"), None);
        assert!(idx.contains("a") && !idx.contains(""));
        assert_eq!(idx.keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(KeyIndex::<u8>::default().get("a"), None);
    }
}
