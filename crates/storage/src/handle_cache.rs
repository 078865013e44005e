//! A small LRU of open file descriptors.
//!
//! A torrent of 10 000 files must not hold 10 000 descriptors, so handles are
//! opened on demand and the least recently used is closed once more than
//! `max_open` are cached. The lock is held only to look up or insert an
//! `Arc<File>`; the positioned read or write runs on a clone of the `Arc`
//! without it, so an eviction during a system call just defers the close
//! until that call finishes. The number of descriptors open at once is
//! therefore at most `max_open` plus the number of in-flight operations.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) struct HandleCache {
    max_open: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// file index -> (handle, last-use stamp)
    map: HashMap<usize, (Arc<File>, u64)>,
    /// last-use stamp -> file index, oldest first
    order: BTreeMap<u64, usize>,
    clock: u64,
}

impl HandleCache {
    pub(crate) fn new(max_open: usize) -> Self {
        Self {
            max_open: max_open.max(1),
            inner: Mutex::new(Lru::default()),
        }
    }

    /// The cached handle for `key`, marked most recently used.
    pub(crate) fn get(&self, key: usize) -> Option<Arc<File>> {
        let mut lru = self.lock();
        let lru = &mut *lru;
        let stamp = lru.tick();
        let (file, old) = lru.map.get_mut(&key)?;
        let file = Arc::clone(file);
        lru.order.remove(old);
        *old = stamp;
        lru.order.insert(stamp, key);
        Some(file)
    }

    /// Caches `file` for `key` (or returns the handle another thread cached
    /// first), evicting the least recently used handles beyond the limit.
    pub(crate) fn insert(&self, key: usize, file: File) -> Arc<File> {
        let mut lru = self.lock();
        if let Some(existing) = lru.map.get(&key).map(|(f, _)| Arc::clone(f)) {
            return existing;
        }
        let stamp = lru.tick();
        let file = Arc::new(file);
        lru.map.insert(key, (Arc::clone(&file), stamp));
        lru.order.insert(stamp, key);
        while lru.map.len() > self.max_open {
            let Some((_, victim)) = lru.order.pop_first() else {
                break;
            };
            lru.map.remove(&victim);
        }
        file
    }

    /// Handles currently cached.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // The LRU stays consistent even if a holder panicked mid-way (every
        // mutation keeps `map` and `order` in step), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lru {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devnull() -> File {
        File::open("/dev/null").expect("open /dev/null")
    }

    #[test]
    fn evicts_least_recently_used() {
        let c = HandleCache::new(2);
        c.insert(1, devnull());
        c.insert(2, devnull());
        assert!(c.get(1).is_some()); // 2 is now the oldest
        c.insert(3, devnull());
        assert_eq!(c.len(), 2);
        assert!(c.get(2).is_none());
        assert!(c.get(1).is_some());
        assert!(c.get(3).is_some());
    }

    #[test]
    fn second_insert_returns_first_handle() {
        let c = HandleCache::new(4);
        let a = c.insert(7, devnull());
        let b = c.insert(7, devnull());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn evicted_handle_stays_usable_while_held() {
        let c = HandleCache::new(1);
        let held = c.insert(1, devnull());
        c.insert(2, devnull());
        assert!(c.get(1).is_none());
        assert!(held.metadata().is_ok());
    }
}
