//! One enrolment per NIK at a time: the NIK check (is it held? by whom?) and the insert that
//! may make it held must not interleave for one NIK.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

/// The NIKs being enrolled now.
#[derive(Debug, Default)]
pub struct NikLocks {
    held: Mutex<HashSet<String>>,
    freed: Condvar,
}

/// Holds a NIK until dropped.
#[derive(Debug)]
pub struct NikGuard<'a> {
    locks: &'a NikLocks,
    nik: String,
}

impl NikLocks {
    /// Waits until no other enrolment holds `nik`, then holds it.
    pub fn lock(&self, nik: &str) -> NikGuard<'_> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        while held.contains(nik) {
            held = self.freed.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.insert(nik.to_owned());
        NikGuard {
            locks: self,
            nik: nik.to_owned(),
        }
    }
}

impl Drop for NikGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.nik);
        self.locks.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn one_holder_per_nik() {
        let locks = Arc::new(NikLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (locks, inside, max) = (locks.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _g = locks.lock("3171014508900001");
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
        // Another NIK is not blocked by a held one.
        let _a = locks.lock("3171014508900001");
        let _b = locks.lock("3171014508900002");
    }
}
