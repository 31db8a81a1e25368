//! [`connector::KeyValue`] over Spin's key-value store.

use connector::{KeyValue, StoreError};
use spin_sdk::key_value::{Error as SpinError, Store};
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};
use std::cell::OnceCell;

/// The key-value store labelled `label` (the app uses only `default`).
///
/// `get`/`set`/`delete` go through `fermyon:spin/key-value@2.0.0`; `increment` goes through
/// `wasi:keyvalue/atomics@0.2.0-draft2`, which Spin links to the same data under the same label
/// (`spin.md` §4.1). spin-sdk 5.2 exposes the wasi bindings only as hidden modules, so they are
/// wrapped here, once. The wasi bucket is opened on first use: most requests that only read never
/// pay for a second `open`.
///
/// Compare-and-swap is not offered (`spin.md` §4.3: not safe on either backend).
#[derive(Debug)]
pub struct SpinStore {
    label: String,
    store: Store,
    bucket: OnceCell<wasi_store::Bucket>,
}

impl SpinStore {
    /// Opens the store `label` (must be listed in the component's `key_value_stores`).
    pub fn open(label: &str) -> Result<Self, StoreError> {
        let store = Store::open(label).map_err(map_spin_error)?;
        Ok(Self {
            label: label.to_owned(),
            store,
            bucket: OnceCell::new(),
        })
    }

    /// Opens the `default` store.
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open("default")
    }

    fn bucket(&self) -> Result<&wasi_store::Bucket, StoreError> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let bucket = wasi_store::open(&self.label).map_err(map_wasi_error)?;
        Ok(self.bucket.get_or_init(|| bucket))
    }
}

impl KeyValue for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key).map_err(map_spin_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.set(key, value).map_err(map_spin_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key).map_err(map_spin_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(self.bucket()?, key, delta).map_err(map_wasi_error)
    }
}

/// Maps `fermyon:spin/key-value@2.0.0` errors onto the port's.
fn map_spin_error(e: SpinError) -> StoreError {
    match e {
        SpinError::StoreTableFull => StoreError::TableFull,
        SpinError::NoSuchStore => StoreError::NoSuchStore,
        SpinError::AccessDenied => StoreError::AccessDenied,
        SpinError::Other(msg) => StoreError::Other(msg),
    }
}

/// Maps `wasi:keyvalue/store@0.2.0-draft2` errors onto the port's.
fn map_wasi_error(e: wasi_store::Error) -> StoreError {
    match e {
        wasi_store::Error::NoSuchStore => StoreError::NoSuchStore,
        wasi_store::Error::AccessDenied => StoreError::AccessDenied,
        wasi_store::Error::Other(msg) => StoreError::Other(msg),
    }
}
