//! Values shared by groups of nodes: one made per distinct key (at the first node with it), and
//! which one each node has. A cluster's workers mostly share one.

use crate::error::Result;
use std::collections::BTreeMap;

pub struct PerGroup<T> {
    values: Vec<T>,
    of_node: Vec<usize>,
}

impl<T> PerGroup<T> {
    /// `keys[i]` is node `i`'s key; `make(i, key)` builds the value of the first node `i` with `key`.
    pub fn build<K: Ord>(keys: Vec<K>, mut make: impl FnMut(usize, &K) -> Result<T>) -> Result<PerGroup<T>> {
        let mut first: BTreeMap<K, usize> = BTreeMap::new();
        let (mut values, mut of_node) = (Vec::new(), Vec::with_capacity(keys.len()));
        for (i, key) in keys.into_iter().enumerate() {
            let v = match first.get(&key) {
                Some(v) => *v,
                None => {
                    values.push(make(i, &key)?);
                    first.insert(key, values.len() - 1);
                    values.len() - 1
                }
            };
            of_node.push(v);
        }
        Ok(PerGroup { values, of_node })
    }

    /// The same groups with each value mapped by `f`.
    pub fn map<U>(&self, f: impl FnMut(&T) -> Result<U>) -> Result<PerGroup<U>> {
        let values = self.values.iter().map(f).collect::<Result<Vec<U>>>()?;
        Ok(PerGroup { values, of_node: self.of_node.clone() })
    }

    /// The value of node `i`.
    pub fn of(&self, i: usize) -> Option<&T> {
        self.of_node.get(i).and_then(|&v| self.values.get(v))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_value_per_key_made_at_its_first_node() -> crate::Result<()> {
        let mut made = Vec::new();
        let g = super::PerGroup::build(vec!["a", "b", "a", "c", "b"], |i, k| {
            made.push(i);
            Ok(format!("{k}{i}"))
        })?;
        assert_eq!(made, [0, 1, 3]);
        let got: Vec<Option<&String>> = (0..6).map(|i| g.of(i)).collect();
        let want = ["a0", "b1", "a0", "c3", "b1"].map(String::from);
        assert_eq!(got, want.iter().map(Some).chain([None]).collect::<Vec<_>>());
        let marked = g.map(|v| Ok(format!("{v}!")))?;
        let got: Vec<Option<&String>> = (0..6).map(|i| marked.of(i)).collect();
        let want = ["a0!", "b1!", "a0!", "c3!", "b1!"].map(String::from);
        assert_eq!(got, want.iter().map(Some).chain([None]).collect::<Vec<_>>());
        Ok(())
    }
}
