//! The documents clients insert, kept in memory for the life of the server so that a driver's
//! `insertOne` and `find` (and the spec's unified tests) see their own writes: per namespace,
//! in insertion order, within caps on documents and bytes. No query language: `find` takes only
//! an empty filter.

use std::collections::HashMap;

use bson::{RawBsonRef, RawDocument, RawDocumentBuf};

use crate::command::array_element_len;

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

/// How deep documents nest at most: MongoDB stores no document nested deeper.
const MAX_NESTING: usize = 100;

/// Whether `document` is BSON all the way down, as mongod checks a document before it keeps it:
/// every element of a known type and within its parent, every key and string UTF-8, at most
/// [`MAX_NESTING`] levels deep. The wire layer checks only the top level, and a document kept
/// here is served to every other client, whose decoders would fail on it.
pub(crate) fn is_valid_document(document: &RawDocument) -> bool {
    // Open documents on a stack of their own, so no nesting can exhaust the thread's.
    let mut open = vec![document.iter()];
    while let Some(elements) = open.last_mut() {
        let Some(element) = elements.next() else {
            open.pop();
            continue;
        };
        let nested = match element {
            Err(_) => return false,
            Ok((_, RawBsonRef::Document(nested))) => nested,
            Ok((_, RawBsonRef::JavaScriptCodeWithScope(code))) => code.scope,
            Ok((_, RawBsonRef::Array(array))) => match RawDocument::from_bytes(array.as_bytes()) {
                Ok(nested) => nested,
                Err(_) => return false,
            },
            Ok(_) => continue,
        };
        if open.len() >= MAX_NESTING {
            return false;
        }
        open.push(nested.iter());
    }
    true
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    namespaces: HashMap<String, Collection>,
    documents: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Collection {
    documents: Vec<RawDocumentBuf>,
    /// What the documents take as the elements of `find`'s `firstBatch` (keys `"0"`, `"1"`...).
    batch_bytes: usize,
    /// What the documents and the namespace's name count against the store's byte cap.
    bytes: usize,
}

/// The bytes of the OP_MSG answering `find` on a namespace of `namespace_len` bytes whose
/// documents take `batch_bytes` as the elements of its batch: `{cursor: {firstBatch: [...],
/// id: 0, ns: ...}, ok: 1.0}` after the 21 bytes of the header, flags and section kind.
pub(crate) fn find_reply_size(namespace_len: usize, batch_bytes: usize) -> usize {
    // The reply's documents: cursor's (5), with `firstBatch` (12) around the array (5), `id`
    // (12) and `ns` (9 and the name); the reply's own (5), with `cursor` (8) and `ok` (12).
    const AROUND: usize = 21 + 5 + 8 + 12 + 5 + 12 + 5 + 12 + 9;
    AROUND
        .saturating_add(namespace_len)
        .saturating_add(batch_bytes)
}

impl Store {
    /// Keeps `documents` in `namespace`, all or none: `Err` says which cap they would pass.
    /// Nothing to keep creates no namespace, and a new namespace's name counts as bytes: a
    /// client naming a new collection in each insert cannot grow the store past its caps. A
    /// namespace keeps no more than `find` answers in one message of `max_reply` bytes (the
    /// `maxMessageSizeBytes` the server advertises, which drivers hold replies to).
    pub(crate) fn insert(
        &mut self,
        namespace: &str,
        documents: Vec<RawDocumentBuf>,
        limits: StoreLimits,
        max_reply: usize,
    ) -> Result<usize, String> {
        let count = documents.len();
        if count == 0 {
            return Ok(0);
        }
        let (name_bytes, kept, batch_bytes) = match self.namespaces.get(namespace) {
            Some(collection) => (0, collection.documents.len(), collection.batch_bytes),
            None => (namespace.len(), 0, 0),
        };
        let batch_bytes = documents
            .iter()
            .enumerate()
            .map(|(i, document)| {
                array_element_len(kept.saturating_add(i), document.as_bytes().len())
            })
            .fold(batch_bytes, usize::saturating_add);
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
        // Room for the larger header of a legacy OP_REPLY (36 bytes to OP_MSG's 21), which
        // answers a `find` sent as OP_QUERY.
        const OP_REPLY_EXTRA: usize = 15;
        if find_reply_size(namespace.len(), batch_bytes).saturating_add(OP_REPLY_EXTRA) > max_reply
        {
            return Err(format!(
                "the embedded server keeps in one collection what one find reply carries: at \
                 most {max_reply} bytes (maxMessageSizeBytes) with the reply around them"
            ));
        }
        self.documents += count;
        self.bytes += bytes;
        let collection = self.namespaces.entry(namespace.to_owned()).or_default();
        collection.documents.extend(documents);
        collection.batch_bytes = batch_bytes;
        collection.bytes += bytes;
        Ok(count)
    }

    /// The documents of `namespace`, in insertion order.
    pub(crate) fn find(&self, namespace: &str) -> &[RawDocumentBuf] {
        self.namespaces
            .get(namespace)
            .map_or(&[], |collection| collection.documents.as_slice())
    }

    /// Empties `namespace`.
    pub(crate) fn drop_namespace(&mut self, namespace: &str) {
        if let Some(collection) = self.namespaces.remove(namespace) {
            self.documents -= collection.documents.len();
            self.bytes -= collection.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::rawdoc;

    /// `{a: {b: [<value>]}}` with the string `"x"` as value, whose bytes `corrupt` then edits.
    fn nested_with(corrupt: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut bytes = rawdoc! { "a": { "b": ["x"], "c": 1 } }.into_bytes();
        corrupt(&mut bytes);
        bytes
    }

    /// `{d: {d: ... {leaf: true}}}`, `depth` documents deep, written out in one pass.
    fn nested(depth: usize) -> Vec<u8> {
        let leaf = rawdoc! { "leaf": true }.into_bytes();
        // Each level around the leaf adds its length, the type byte, `d\0` and its terminator.
        let size = |level: usize| leaf.len() + 8 * (level - 1);
        let mut bytes = Vec::with_capacity(size(depth));
        for level in (2..=depth).rev() {
            bytes.extend_from_slice(&i32::try_from(size(level)).unwrap().to_le_bytes());
            bytes.extend_from_slice(&[0x03, b'd', 0]);
        }
        bytes.extend_from_slice(&leaf);
        bytes.resize(size(depth), 0);
        bytes
    }

    #[test]
    fn documents_are_checked_all_the_way_down() {
        let check = |bytes: &[u8]| is_valid_document(RawDocument::from_bytes(bytes).unwrap());
        assert!(check(&nested_with(|_| {})));
        let at = |bytes: &[u8], needle: &[u8]| {
            bytes
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap()
        };
        // The string inside the array is not UTF-8.
        assert!(!check(&nested_with(|b| {
            let x = at(b, b"x\0");
            b[x] = 0xff;
        })));
        // An element type BSON does not have, two levels down.
        assert!(!check(&nested_with(|b| {
            let c = at(b, b"c\0");
            b[c - 1] = 0x42;
        })));
        // A nested key that is not UTF-8.
        assert!(!check(&nested_with(|b| {
            let key = at(b, b"b\0");
            b[key] = 0xc3;
        })));
        // An inner length that runs past its parent.
        assert!(!check(&nested_with(|b| {
            let inner = at(b, b"a\0") + 2;
            b[inner] = 0x7f;
        })));
        assert!(check(&nested(MAX_NESTING)));
        assert!(!check(&nested(MAX_NESTING + 1)));
        // Deep enough to overflow the stack of a recursive walk, refused without one.
        assert!(!check(&nested(100_000)));
    }

    #[test]
    fn keeps_per_namespace_within_its_caps_and_drop_frees_them() {
        let limits = StoreLimits {
            max_documents: 3,
            max_bytes: 1024,
        };
        let mut store = Store::default();
        let docs = |n: i32| (0..n).map(|i| rawdoc! { "_id": i }).collect::<Vec<_>>();
        assert_eq!(store.insert("db.a", docs(2), limits, usize::MAX), Ok(2));
        assert_eq!(store.find("db.a").len(), 2);
        assert!(store.find("db.b").is_empty());
        // All or none: two more would pass the cap of three.
        assert!(store.insert("db.b", docs(2), limits, usize::MAX).is_err());
        assert!(store.find("db.b").is_empty());
        store.drop_namespace("db.a");
        assert_eq!(store.insert("db.b", docs(3), limits, usize::MAX), Ok(3));
        let big = vec![rawdoc! { "x": "y".repeat(2000) }];
        store.drop_namespace("db.b");
        assert!(
            store
                .insert("db.c", big, limits, usize::MAX)
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
        assert_eq!(store.insert(&long, Vec::new(), limits, usize::MAX), Ok(0));
        assert!(store.namespaces.is_empty());
        assert_eq!((store.documents, store.bytes), (0, 0));
        // A name longer than the byte cap cannot be kept, whatever the documents.
        assert!(
            store
                .insert(&long, one(), limits, usize::MAX)
                .unwrap_err()
                .contains("bytes")
        );
        // A name is counted once, when its namespace is created, and freed with it.
        let doc_len = one().iter().map(|d| d.as_bytes().len()).sum::<usize>();
        assert_eq!(store.insert("db.a", one(), limits, usize::MAX), Ok(1));
        assert_eq!(store.insert("db.a", one(), limits, usize::MAX), Ok(1));
        assert_eq!(store.bytes, "db.a".len() + 2 * doc_len);
        store.drop_namespace("db.a");
        assert_eq!((store.documents, store.bytes), (0, 0));
    }
}
