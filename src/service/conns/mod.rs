//! The connection table: which connections are open, from which client address, in which
//! pool and in which phase, and whom to close when a limit is reached.
//!
//! * **Pending pool** (`max_pending_connections`): every accepted connection waits here until
//!   the head of its first request is complete. Such a connection costs a file descriptor and
//!   a small task, nothing more, so the pool is large; when it is full the oldest pending
//!   connection of the address holding the most pending connections is closed to admit the
//!   newcomer (the oldest overall when no address holds more than one), so silent or
//!   slowloris clients cannot keep others out, they only push each other out.
//! * **General pool** (`max_connections`): a connection whose first request head is complete
//!   moves here, if there is room or an idle keep-alive connection to close for it.
//! * **Reserve** (`reserved_connections`, beyond the general pool): with the general pool busy,
//!   a first request that is `GET /health`, `GET /ready` or carries a valid bearer key (checked
//!   by [`super::listen`]) is served from the reserve, one request per connection. Other first
//!   requests get `503 too_many_connections` and the connection is closed.
//! * **Per-address cap** (`max_connections_per_address`, over all pools): an IPv4 address or an
//!   IPv6 /64 never holds more; at the cap its own oldest pending (else idle) connection is
//!   closed to admit the newcomer, and only with all of them busy is the newcomer refused.
//!
//! A connection is *fresh* until its first request head is complete, *busy* while a request is
//! served, and *idle* between keep-alive requests. Fresh and idle connections are sheddable,
//! the oldest first; busy ones never are.
//!
//! The table is synchronous (a mutex held for a few map operations) so its rules are unit
//! tested without sockets.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Client address as counted by the per-address cap: an IPv4 address, or an IPv6 /64 (one
/// subscriber usually holds a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressKey {
    /// An IPv4 address.
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
}

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a.into()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.into()),
                None => Self::V6((u128::from(a) >> 64) as u64),
            },
        }
    }
}

/// Connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections waiting for their first request head.
    pub pending: usize,
    /// Connections in the general pool.
    pub general: usize,
    /// Connections in the reserve, beyond the general pool.
    pub reserve: usize,
    /// Connections of one client address over all pools.
    pub per_address: usize,
}

/// Which pool a connection holds a slot of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// No complete request yet (or turned away at its first request and closing).
    Pending,
    /// Any request, keep-alive.
    General,
    /// One probe or authenticated request, then closed.
    Reserve,
}

impl Pool {
    fn index(self) -> usize {
        match self {
            Self::Pending => 0,
            Self::General => 1,
            Self::Reserve => 2,
        }
    }
}

/// Where a request begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// On a general-pool connection: serve it.
    General,
    /// First request on a reserve slot: serve it only if it is a probe or authenticated.
    Reserve,
    /// No slot (general pool and reserve busy), or a later request on a reserve connection,
    /// or the connection was shed: answer `too_many_connections` and close.
    NoSlot,
}

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds `per_address` connections, all busy.
    AddressLimit,
    /// The pending pool has no room (only with a pending limit of 0).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh,
    Busy(u32),
    /// Idle since the given sequence number.
    Idle(u64),
}

#[derive(Debug)]
struct Entry {
    address: AddressKey,
    pool: Pool,
    phase: Phase,
    shed: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Default)]
struct AddressEntry {
    open: usize,
    fresh: BTreeSet<u64>,
    idle: BTreeSet<(u64, u64)>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    entries: HashMap<u64, Entry>,
    open: [usize; 3],
    addresses: HashMap<AddressKey, AddressEntry>,
    /// Fresh connections; ids are accept order, so the first is the oldest.
    fresh: BTreeSet<u64>,
    /// Idle keep-alive connections of the general pool as (idle since, id).
    idle: BTreeSet<(u64, u64)>,
    /// Addresses holding fresh connections, as (how many, address): the last holds most.
    crowded: BTreeSet<(usize, AddressKey)>,
}

impl Table {
    fn seq(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Takes `id` out of the sheddable sets (it is becoming busy or leaving).
    fn unlist(&mut self, id: u64) {
        let Some((key, phase)) = self.entries.get(&id).map(|e| (e.address, e.phase)) else {
            return;
        };
        match phase {
            Phase::Fresh => {
                self.fresh.remove(&id);
                if let Some(a) = self.addresses.get_mut(&key) {
                    let before = a.fresh.len();
                    a.fresh.remove(&id);
                    let after = a.fresh.len();
                    self.recount(key, before, after);
                }
            }
            Phase::Idle(since) => {
                self.idle.remove(&(since, id));
                if let Some(a) = self.addresses.get_mut(&key) {
                    a.idle.remove(&(since, id));
                }
            }
            Phase::Busy(_) => {}
        }
    }

    /// Removes `id` and frees its slot.
    fn remove(&mut self, id: u64) -> Option<Entry> {
        self.unlist(id);
        let entry = self.entries.remove(&id)?;
        self.open[entry.pool.index()] -= 1;
        if let Some(a) = self.addresses.get_mut(&entry.address) {
            a.open -= 1;
            if a.open == 0 {
                self.addresses.remove(&entry.address);
            }
        }
        Some(entry)
    }

    /// Closes `id` to make room: frees its slot and signals its task.
    fn shed(&mut self, id: u64, stats: &Stats) {
        let fresh = self
            .entries
            .get(&id)
            .is_some_and(|e| e.phase == Phase::Fresh);
        if let Some(mut entry) = self.remove(id) {
            if let Some(signal) = entry.shed.take() {
                let _ = signal.send(());
            }
            let counter = if fresh {
                &stats.shed_fresh
            } else {
                &stats.shed_idle
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves `address` in the crowding order from `before` to `after` fresh connections.
    fn recount(&mut self, address: AddressKey, before: usize, after: usize) {
        if before == after {
            return;
        }
        self.crowded.remove(&(before, address));
        if after > 0 {
            self.crowded.insert((after, address));
        }
    }

    /// The fresh connection to close when the pending pool is full: the oldest of the
    /// address holding the most fresh connections, or the oldest overall when no address
    /// holds more than one. A flood from a few addresses pushes out its own connections,
    /// not a probe's or a single client's.
    fn pending_victim(&self) -> Option<u64> {
        match self.crowded.last() {
            Some(&(n, address)) if n > 1 => self.addresses.get(&address)?.fresh.first().copied(),
            _ => self.fresh.first().copied(),
        }
    }

    fn oldest_of_address(&self, address: AddressKey) -> Option<u64> {
        let a = self.addresses.get(&address)?;
        a.fresh
            .first()
            .copied()
            .or_else(|| a.idle.first().map(|&(_, id)| id))
    }

    fn move_to(&mut self, id: u64, pool: Pool) {
        if let Some(e) = self.entries.get_mut(&id) {
            let from = e.pool;
            e.pool = pool;
            self.open[from.index()] -= 1;
            self.open[pool.index()] += 1;
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    shed_fresh: AtomicU64,
    shed_idle: AtomicU64,
    refused_address: AtomicU64,
    refused_full: AtomicU64,
    no_slot: AtomicU64,
    reserve_denied: AtomicU64,
    first_request_timeouts: AtomicU64,
}

/// Counters and gauges of the table, for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Open connections without a complete first request.
    pub open_pending: usize,
    /// Open connections in the general pool.
    pub open_general: usize,
    /// Open connections in the reserve.
    pub open_reserve: usize,
    /// Fresh connections closed to make room.
    pub shed_fresh: u64,
    /// Idle keep-alive connections closed to make room.
    pub shed_idle: u64,
    /// New connections refused at the per-address cap.
    pub refused_address: u64,
    /// New connections refused with the pending pool full.
    pub refused_full: u64,
    /// First requests answered `too_many_connections` for want of a slot.
    pub no_slot: u64,
    /// Reserve connections whose first request was neither a probe nor authenticated.
    pub reserve_denied: u64,
    /// Connections closed for not completing a first request in time.
    pub first_request_timeouts: u64,
}

/// The shared connection table.
#[derive(Debug)]
pub struct Connections {
    limits: Limits,
    table: Mutex<Table>,
    stats: Stats,
}

/// A slot held by one connection; frees it when dropped.
#[derive(Debug)]
pub struct Slot {
    table: Arc<Connections>,
    id: u64,
}

/// What `admit` gives an admitted connection: its slot and the signal that it was shed.
#[derive(Debug)]
pub struct Admitted {
    /// The slot (free on drop).
    pub slot: Slot,
    /// Completes when the table closes this connection to make room.
    pub shed: oneshot::Receiver<()>,
}

impl Connections {
    /// An empty table with `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::new(Table::default()),
            stats: Stats::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // No table operation panics between two consistent states, so a poisoned lock (only
        // possible after a panic elsewhere while holding it) still guards a usable table.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Admits a new connection from `ip` into the pending pool, shedding an older sheddable
    /// one if a limit is reached, or refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let address = AddressKey::from(ip);
        let mut t = self.lock();
        let at_cap = t
            .addresses
            .get(&address)
            .is_some_and(|a| a.open >= self.limits.per_address);
        if at_cap {
            let Some(victim) = t.oldest_of_address(address) else {
                self.stats.refused_address.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::AddressLimit);
            };
            t.shed(victim, &self.stats);
        }
        if t.open[Pool::Pending.index()] >= self.limits.pending {
            let Some(victim) = t.pending_victim() else {
                self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::Full);
            };
            t.shed(victim, &self.stats);
        }
        let id = t.seq();
        let (tx, rx) = oneshot::channel();
        t.entries.insert(
            id,
            Entry {
                address,
                pool: Pool::Pending,
                phase: Phase::Fresh,
                shed: Some(tx),
            },
        );
        t.open[Pool::Pending.index()] += 1;
        t.fresh.insert(id);
        let a = t.addresses.entry(address).or_default();
        a.open += 1;
        let before = a.fresh.len();
        a.fresh.insert(id);
        let after = a.fresh.len();
        t.recount(address, before, after);
        drop(t);
        Ok(Admitted {
            slot: Slot {
                table: self.clone(),
                id,
            },
            shed: rx,
        })
    }

    /// Counts a reserve connection turned away for its first request.
    pub fn count_reserve_denied(&self) {
        self.stats.reserve_denied.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed for not completing its first request in time.
    pub fn count_first_request_timeout(&self) {
        self.stats
            .first_request_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Current gauges and counters.
    pub fn stats(&self) -> ConnectionStats {
        let t = self.lock();
        let s = &self.stats;
        ConnectionStats {
            open_pending: t.open[Pool::Pending.index()],
            open_general: t.open[Pool::General.index()],
            open_reserve: t.open[Pool::Reserve.index()],
            shed_fresh: s.shed_fresh.load(Ordering::Relaxed),
            shed_idle: s.shed_idle.load(Ordering::Relaxed),
            refused_address: s.refused_address.load(Ordering::Relaxed),
            refused_full: s.refused_full.load(Ordering::Relaxed),
            no_slot: s.no_slot.load(Ordering::Relaxed),
            reserve_denied: s.reserve_denied.load(Ordering::Relaxed),
            first_request_timeouts: s.first_request_timeouts.load(Ordering::Relaxed),
        }
    }
}

impl Slot {
    /// Marks a request as begun (its head is complete) and says where it is served. A first
    /// request moves the connection out of the pending pool: into the general pool if it has
    /// room or an idle connection to close for it, else into the reserve if it has room.
    pub fn begin_request(&self) -> Start {
        let limits = self.table.limits;
        let stats = &self.table.stats;
        let mut t = self.table.lock();
        let Some((phase, pool)) = t.entries.get(&self.id).map(|e| (e.phase, e.pool)) else {
            return Start::NoSlot;
        };
        t.unlist(self.id);
        let (start, busy) = match (phase, pool) {
            (Phase::Fresh, _) => {
                let target = if t.open[Pool::General.index()] < limits.general {
                    Some(Pool::General)
                } else if let Some(&(_, victim)) = t.idle.first() {
                    t.shed(victim, stats);
                    Some(Pool::General)
                } else if t.open[Pool::Reserve.index()] < limits.reserve {
                    Some(Pool::Reserve)
                } else {
                    None
                };
                match target {
                    Some(pool) => {
                        t.move_to(self.id, pool);
                        let start = match pool {
                            Pool::Reserve => Start::Reserve,
                            _ => Start::General,
                        };
                        (start, 1)
                    }
                    None => {
                        stats.no_slot.fetch_add(1, Ordering::Relaxed);
                        (Start::NoSlot, 1)
                    }
                }
            }
            (Phase::Idle(_), Pool::General) => (Start::General, 1),
            (Phase::Busy(n), Pool::General) => (Start::General, n.saturating_add(1)),
            (Phase::Idle(_) | Phase::Busy(_), _) => (Start::NoSlot, 1),
        };
        if let Some(e) = t.entries.get_mut(&self.id) {
            e.phase = Phase::Busy(busy);
        }
        start
    }

    /// Marks a request as finished (its response written or abandoned). A general-pool
    /// connection with no request left becomes idle and sheddable; others close after it.
    pub fn end_request(&self) {
        let mut t = self.table.lock();
        let since = t.seq();
        let Some(e) = t.entries.get_mut(&self.id) else {
            return;
        };
        let Phase::Busy(n) = e.phase else {
            return;
        };
        if n > 1 {
            e.phase = Phase::Busy(n - 1);
            return;
        }
        if e.pool != Pool::General {
            return;
        }
        e.phase = Phase::Idle(since);
        let address = e.address;
        t.idle.insert((since, self.id));
        if let Some(a) = t.addresses.get_mut(&address) {
            a.idle.insert((since, self.id));
        }
    }

    /// Whether no request head has been completed yet (and the slot is still held).
    pub fn is_fresh(&self) -> bool {
        let t = self.table.lock();
        t.entries
            .get(&self.id)
            .is_some_and(|e| e.phase == Phase::Fresh)
    }

    /// The table the slot belongs to.
    pub fn table(&self) -> &Arc<Connections> {
        &self.table
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests;
