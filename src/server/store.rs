//! The documents clients insert, kept in memory for the life of the server so that a driver's
//! `insertOne` and `find` (and the spec's unified tests) see their own writes: per namespace,
//! in insertion order, within caps on documents and bytes. No query language: `find` takes only
//! an empty filter.

use std::collections::HashMap;

use bson::RawDocumentBuf;

/// The caps of a server's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Documents kept at most, over every namespace.
    pub max_documents: usize,
    /// Bytes kept at most, over every namespace: the documents and the namespaces' names.
    pub max_bytes: usize,
}

impl Default for StoreLimits {
    /// 10,000 documents, 16 MiB.
    fn default() -> Self {
        StoreLimits {
            max_documents: 10_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    namespaces: HashMap<String, Vec<RawDocumentBuf>>,
    documents: usize,
    bytes: usize,
}

impl Store {
    /// Keeps `documents` in `namespace`, all or none: `Err` says which cap they would pass.
    /// Nothing to keep creates no namespace, and a new namespace's name counts as bytes: a
    /// client naming a new collection in each insert cannot grow the store past its caps.
    pub(crate) fn insert(
        &mut self,
        namespace: &str,
        documents: Vec<RawDocumentBuf>,
        limits: StoreLimits,
    ) -> Result<usize, String> {
        let count = documents.len();
        if count == 0 {
            return Ok(0);
        }
        let name_bytes = if self.namespaces.contains_key(namespace) {
            0
        } else {
            namespace.len()
        };
        let bytes = documents
            .iter()
            .map(|d| d.as_bytes().len())
            .fold(name_bytes, usize::saturating_add);
        if self.documents.saturating_add(count) > limits.max_documents {
            return Err(format!(
                "the embedded server keeps at most {} documents",
                limits.max_documents
            ));
        }
        if self.bytes.saturating_add(bytes) > limits.max_bytes {
            return Err(format!(
                "the embedded server keeps at most {} bytes of documents and namespaces",
                limits.max_bytes
            ));
        }
        self.documents += count;
        self.bytes += bytes;
        self.namespaces
            .entry(namespace.to_owned())
            .or_default()
            .extend(documents);
        Ok(count)
    }

    /// The documents of `namespace`, in insertion order.
    pub(crate) fn find(&self, namespace: &str) -> &[RawDocumentBuf] {
        self.namespaces.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// Empties `namespace`.
    pub(crate) fn drop_namespace(&mut self, namespace: &str) {
        if let Some(documents) = self.namespaces.remove(namespace) {
            self.documents -= documents.len();
            self.bytes -=
                namespace.len() + documents.iter().map(|d| d.as_bytes().len()).sum::<usize>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::rawdoc;

    #[test]
    fn keeps_per_namespace_within_its_caps_and_drop_frees_them() {
        let limits = StoreLimits {
            max_documents: 3,
            max_bytes: 1024,
        };
        let mut store = Store::default();
        let docs = |n: i32| (0..n).map(|i| rawdoc! { "_id": i }).collect::<Vec<_>>();
        assert_eq!(store.insert("db.a", docs(2), limits), Ok(2));
        assert_eq!(store.find("db.a").len(), 2);
        assert!(store.find("db.b").is_empty());
        // All or none: two more would pass the cap of three.
        assert!(store.insert("db.b", docs(2), limits).is_err());
        assert!(store.find("db.b").is_empty());
        store.drop_namespace("db.a");
        assert_eq!(store.insert("db.b", docs(3), limits), Ok(3));
        let big = vec![rawdoc! { "x": "y".repeat(2000) }];
        store.drop_namespace("db.b");
        assert!(
            store
                .insert("db.c", big, limits)
                .unwrap_err()
                .contains("bytes")
        );
    }

    #[test]
    fn namespaces_count_toward_the_byte_cap_and_an_empty_insert_keeps_none() {
        let limits = StoreLimits {
            max_documents: 10,
            max_bytes: 1024,
        };
        let mut store = Store::default();
        let one = || vec![rawdoc! { "_id": 1 }];
        // Nothing to keep, under any name: no namespace is created, nothing is counted.
        let long = format!("db.{}", "n".repeat(4000));
        assert_eq!(store.insert(&long, Vec::new(), limits), Ok(0));
        assert!(store.namespaces.is_empty());
        assert_eq!((store.documents, store.bytes), (0, 0));
        // A name longer than the byte cap cannot be kept, whatever the documents.
        assert!(
            store
                .insert(&long, one(), limits)
                .unwrap_err()
                .contains("bytes")
        );
        // A name is counted once, when its namespace is created, and freed with it.
        let doc_len = one().iter().map(|d| d.as_bytes().len()).sum::<usize>();
        assert_eq!(store.insert("db.a", one(), limits), Ok(1));
        assert_eq!(store.insert("db.a", one(), limits), Ok(1));
        assert_eq!(store.bytes, "db.a".len() + 2 * doc_len);
        store.drop_namespace("db.a");
        assert_eq!((store.documents, store.bytes), (0, 0));
    }
}
