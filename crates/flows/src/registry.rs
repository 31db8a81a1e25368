//! The DATEV clients that were ever connected, so the poller can refresh their tokens before
//! they expire without scanning the store (`ARCHITECTURE.md`, "Key-value store").
//!
//! | key | kind | meaning |
//! |---|---|---|
//! | `seq:datev-clients` | counter | last slot handed out |
//! | `datev-client:<slot>` | text | a client id `<consultant>-<client>` |
//! | `claim:datev-client:<client>` | counter | taken after the slot is written (≥ 1: registered) |
//!
//! As with the inbound queue, the claim comes **after** the record, so a crash can at worst leave
//! a duplicate slot (readers deduplicate), never a client that looks registered but is not.

use connector::client_config::ClientId;
use connector::keys::{self, CounterError};
use connector::{KeyValue, StoreError};

/// The slot counter.
pub const SEQ: &str = "seq:datev-clients";

/// Slot `n`.
pub fn slot_key(n: u64) -> String {
    format!("datev-client:{n}")
}

/// The "registered" claim of a client.
pub fn claim_key(client: &ClientId) -> String {
    format!("claim:datev-client:{}", keys::segment(client.as_str()))
}

fn store_error(e: CounterError) -> StoreError {
    match e {
        CounterError::Store(s) => s,
        CounterError::NotACounter { key, len } => {
            StoreError::Other(format!("{key} does not hold a counter ({len} bytes)"))
        }
    }
}

/// Registers `client` unless it is already (a read when registered; three writes otherwise).
pub fn register(store: &(impl KeyValue + ?Sized), client: &ClientId) -> Result<(), StoreError> {
    if keys::read_counter(store, &claim_key(client)).map_err(store_error)? > 0 {
        return Ok(());
    }
    let n = store.increment(SEQ, 1)?;
    let slot = u64::try_from(n).map_err(|_| StoreError::Other(format!("{SEQ} at {n}")))?;
    store.set(&slot_key(slot), client.as_str().as_bytes())?;
    store.increment(&claim_key(client), 1)?;
    Ok(())
}

/// The registered clients, first `max` slots, without duplicates (reads only). Unreadable slots
/// are skipped.
pub fn list(store: &(impl KeyValue + ?Sized), max: usize) -> Result<Vec<ClientId>, StoreError> {
    let n = u64::try_from(keys::read_counter(store, SEQ).map_err(store_error)?).unwrap_or(0);
    let mut out: Vec<ClientId> = Vec::new();
    for slot in 1..=n.min(max as u64) {
        let Some(bytes) = store.get(&slot_key(slot))? else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(c) = ClientId::parse(text)
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::memory::MemoryStore;

    #[test]
    fn register_once_and_list() {
        let s = MemoryStore::new();
        let a = ClientId::parse("29098-55003").unwrap();
        let b = ClientId::parse("29098-55004").unwrap();
        register(&s, &a).unwrap();
        register(&s, &a).unwrap();
        register(&s, &b).unwrap();
        assert_eq!(list(&s, 10).unwrap(), vec![a.clone(), b]);
        assert_eq!(list(&s, 1).unwrap(), vec![a.clone()]);
        assert_eq!(s.writes(), 6);
        // A crash after the slot write leaves a duplicate slot: still listed once.
        let s = MemoryStore::new();
        s.fail_after(2);
        assert!(register(&s, &a).is_err());
        s.heal();
        register(&s, &a).unwrap();
        assert_eq!(list(&s, 10).unwrap(), vec![a]);
    }
}
