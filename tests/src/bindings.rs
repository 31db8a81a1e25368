//! Host side of the Spin interfaces the test host provides, generated from the WIT vendored in
//! `wit/deps/` (from the spin-sdk 5.2.0 crate) and implemented on [`HostState`].
//!
//! - `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`: one
//!   shared [`crate::HostStore`] per label, `access-denied` for labels the component was not
//!   granted (spin.md §4).
//! - `fermyon:spin/variables@2.0.0` and `wasi:config/store@0.2.0-draft-2024-09-27`: the
//!   component's own variables only (spin.md §5).

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::host::HostState;
use crate::kv::{CasRead, GetMany, HostStore, IncrementError, SwapOutcome};

mod generated {
    wasmtime::component::bindgen!({
        // Each path may use only packages parsed before it; these three are self-contained.
        path: [
            "../wit/deps/spin@2.0.0",
            "../wit/deps/keyvalue-2024-10-17",
            "../wit/deps/wasi-runtime-config-2024-09-27",
        ],
        inline: "
            package ml-connector:test-host;

            world host {
                import fermyon:spin/key-value@2.0.0;
                import fermyon:spin/variables@2.0.0;
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                import wasi:keyvalue/batch@0.2.0-draft2;
                import wasi:config/store@0.2.0-draft-2024-09-27;
            }
        ",
        world: "ml-connector:test-host/host",
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": crate::bindings::OpenStore,
            "wasi:keyvalue/store.bucket": crate::bindings::OpenStore,
            "wasi:keyvalue/atomics.cas": crate::bindings::CasHandle,
        },
    });
}

use generated::fermyon::spin::{key_value as spin_kv, variables};
use generated::wasi::config::store as config;
use generated::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// The cron world of trigger-cron <= 0.4.2 (`wit/deps/spin-cron/cron.wit`), for calling the
/// top-level export `handle-cron-event`.
pub(crate) mod cron {
    wasmtime::component::bindgen!({
        path: "../wit/deps/spin-cron",
        world: "fermyon:spin-cron/spin-cron",
        exports: { default: async },
    });
}

/// An open store (`fermyon:spin/key-value.store` or `wasi:keyvalue/store.bucket`).
#[derive(Debug)]
pub struct OpenStore {
    store: Arc<HostStore>,
}

/// A `wasi:keyvalue/atomics.cas` handle.
#[derive(Debug)]
pub struct CasHandle {
    store: Arc<HostStore>,
    key: String,
    read: CasRead,
}

/// Adds every interface above to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    spin_kv::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    variables::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    wasi_kv::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    atomics::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    batch::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// Spin's `open`: the label must be granted (`key_value_stores`), else `access-denied`, whether
/// or not such a store exists (`spin@v3.6.3:crates/factor-key-value/src/host.rs`).
enum OpenError {
    AccessDenied,
}

impl HostState {
    fn open_store(&mut self, label: &str) -> Result<Arc<HostStore>, OpenError> {
        if !self.component.key_value_stores.iter().any(|l| l == label) {
            return Err(OpenError::AccessDenied);
        }
        Ok(self.app.store(label))
    }

    fn store_of(&self, r: &Resource<OpenStore>) -> wasmtime::Result<Arc<HostStore>> {
        Ok(self.table.get(r)?.store.clone())
    }

    /// Traps like Spin's host does when `increment` finds a non-counter value (SQLite backend).
    fn increment_or_trap(
        &mut self,
        store: &HostStore,
        key: &str,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, String>> {
        match store.increment_value(key, delta) {
            Ok(n) => Ok(Ok(n)),
            Err(e @ IncrementError::NotEightBytes { .. }) => Err(wasmtime::format_err!("{e}")),
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}

// ---- fermyon:spin/key-value@2.0.0 ------------------------------------------------------------

impl spin_kv::Host for HostState {}

impl spin_kv::HostStore for HostState {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, spin_kv::Error>> {
        match self.open_store(&label) {
            Ok(store) => Ok(Ok(self.table.push(OpenStore { store })?)),
            Err(OpenError::AccessDenied) => Ok(Err(spin_kv::Error::AccessDenied)),
        }
    }

    fn get(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(Ok(self.store_of(&this)?.get_value(&key)))
    }

    fn set(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        self.store_of(&this)?.set_value(&key, &value);
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        self.store_of(&this)?.delete_value(&key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(Ok(self.store_of(&this)?.exists(&key)))
    }

    fn get_keys(
        &mut self,
        this: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        Ok(Ok(self.store_of(&this)?.keys()))
    }

    fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/store@0.2.0-draft2 --------------------------------------------------------

impl wasi_kv::Host for HostState {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, wasi_kv::Error>> {
        match self.open_store(&identifier) {
            Ok(store) => Ok(Ok(self.table.push(OpenStore { store })?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_kv::Error::AccessDenied)),
        }
    }
}

impl wasi_kv::HostBucket for HostState {
    fn get(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(Ok(self.store_of(&this)?.get_value(&key)))
    }

    fn set(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.store_of(&this)?.set_value(&key, &value);
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        self.store_of(&this)?.delete_value(&key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        Ok(Ok(self.store_of(&this)?.exists(&key)))
    }

    fn list_keys(
        &mut self,
        this: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_kv::Error::Other(
                "list_keys: cursor not supported".into(),
            )));
        }
        Ok(Ok(wasi_kv::KeyResponse {
            keys: self.store_of(&this)?.keys(),
            cursor: None,
        }))
    }

    fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/atomics@0.2.0-draft2 ------------------------------------------------------

impl atomics::Host for HostState {
    fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        let store = self.store_of(&bucket)?;
        Ok(self
            .increment_or_trap(&store, &key, delta)?
            .map_err(wasi_kv::Error::Other))
    }

    fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        match handle.store.cas_swap(&handle.key, &handle.read, &value) {
            SwapOutcome::Ok => Ok(Ok(())),
            SwapOutcome::CasFailed => {
                // Spin hands back a fresh handle that has already read the current value.
                let (_, read) = handle.store.cas_current(&handle.key);
                let fresh = self.table.push(CasHandle {
                    store: handle.store,
                    key: handle.key,
                    read,
                })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
        }
    }
}

impl atomics::HostCas for HostState {
    fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_kv::Error>> {
        // `new` reads nothing (spin.md §4.3).
        let store = self.store_of(&bucket)?;
        Ok(Ok(self.table.push(CasHandle {
            store,
            key,
            read: CasRead::default(),
        })?))
    }

    fn current(
        &mut self,
        this: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let handle = self.table.get_mut(&this)?;
        let (value, read) = handle.store.cas_current(&handle.key);
        handle.read = read;
        Ok(Ok(value))
    }

    fn drop(&mut self, this: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/batch@0.2.0-draft2 --------------------------------------------------------

impl batch::Host for HostState {
    fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        match self.store_of(&bucket)?.get_many(&keys) {
            Ok(GetMany::Values(v)) => Ok(Ok(v.into_iter().map(|(k, v)| (k, Some(v))).collect())),
            Ok(GetMany::HostPanic) => Err(wasmtime::format_err!(
                "batch.get-many with one key on the Redis backend: Spin's host panics in redis-rs \
                 (spin.md §4.3)"
            )),
            Err(e) => Ok(Err(wasi_kv::Error::Other(e))),
        }
    }

    fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = self.store_of(&bucket)?;
        for (k, v) in key_values {
            store.set_value(&k, &v);
        }
        Ok(Ok(()))
    }

    fn delete_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = self.store_of(&bucket)?;
        for k in keys {
            store.delete_value(&k);
        }
        Ok(Ok(()))
    }
}

// ---- variables -------------------------------------------------------------------------------

/// Resolution of one component variable, as Spin's `expression_resolver.resolve` reports it.
pub(crate) enum VariableLookup {
    Value(String),
    InvalidName(String),
    Undefined(String),
}

impl variables::Host for HostState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(match self.lookup_variable(&name) {
            VariableLookup::Value(v) => Ok(v),
            VariableLookup::InvalidName(m) => Err(variables::Error::InvalidName(m)),
            VariableLookup::Undefined(m) => Err(variables::Error::Undefined(m)),
        })
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, config::Error>> {
        // Spin maps undefined and invalid names to `none` (`crates/factor-variables/src/host.rs`).
        Ok(Ok(match self.lookup_variable(&key) {
            VariableLookup::Value(v) => Some(v),
            VariableLookup::InvalidName(_) | VariableLookup::Undefined(_) => None,
        }))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, config::Error>> {
        Ok(Ok(self
            .component
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}
