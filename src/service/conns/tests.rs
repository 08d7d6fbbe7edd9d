use super::*;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn table(pending: usize, general: usize, reserve: usize, per_address: usize) -> Arc<Connections> {
    Connections::new(Limits {
        pending,
        general,
        reserve,
        per_address,
    })
}

#[test]
fn a_full_pending_pool_sheds_its_oldest_connection() {
    let t = table(3, 10, 0, 10);
    let mut a: Vec<Admitted> = (1..=3).map(|i| t.admit(ip(i)).unwrap()).collect();
    let mut d = t.admit(ip(4)).unwrap();
    assert!(a[0].shed.try_recv().is_ok());
    assert!(!a[0].slot.is_fresh());
    assert!(a[1].shed.try_recv().is_err() && a[2].shed.try_recv().is_err());
    // A connection that sent its first request leaves the pending pool and is safe.
    assert_eq!(a[1].slot.begin_request(), Start::General);
    let _later: Vec<Admitted> = (5..=7).map(|i| t.admit(ip(i)).unwrap()).collect();
    assert!(a[1].shed.try_recv().is_err());
    assert!(d.shed.try_recv().is_ok() && a[2].shed.try_recv().is_ok());
    let s = t.stats();
    assert_eq!((s.open_pending, s.open_general, s.shed_fresh), (3, 1, 3));
    assert_eq!(a[0].slot.begin_request(), Start::NoSlot);
}

#[test]
fn first_requests_take_the_general_pool_then_idle_slots_then_the_reserve() {
    let t = table(10, 2, 1, 10);
    let busy = t.admit(ip(1)).unwrap();
    assert_eq!(busy.slot.begin_request(), Start::General);
    let mut idle = t.admit(ip(2)).unwrap();
    assert_eq!(idle.slot.begin_request(), Start::General);
    idle.slot.end_request();
    // General pool full with one idle keep-alive connection: it makes room.
    let c = t.admit(ip(3)).unwrap();
    assert!(idle.shed.try_recv().is_err());
    assert_eq!(c.slot.begin_request(), Start::General);
    assert!(idle.shed.try_recv().is_ok());
    assert_eq!(t.stats().shed_idle, 1);
    // All busy: the reserve, once; then no slot.
    let r = t.admit(ip(4)).unwrap();
    assert_eq!(r.slot.begin_request(), Start::Reserve);
    let n = t.admit(ip(5)).unwrap();
    assert_eq!(n.slot.begin_request(), Start::NoSlot);
    assert_eq!(t.stats().no_slot, 1);
    // A reserve connection serves one request only.
    r.slot.end_request();
    assert_eq!(r.slot.begin_request(), Start::NoSlot);
    // Busy general connections becoming idle free slots for the next first request.
    c.slot.end_request();
    let m = t.admit(ip(6)).unwrap();
    assert_eq!(m.slot.begin_request(), Start::General);
    let s = t.stats();
    assert_eq!((s.open_general, s.open_reserve), (2, 1));
}

#[test]
fn one_address_sheds_its_own_connections_and_never_others() {
    let t = table(100, 10, 0, 3);
    let mut other = t.admit(ip(9)).unwrap();
    let mut mine: Vec<Admitted> = (0..23).map(|_| t.admit(ip(1)).unwrap()).collect();
    assert!(other.shed.try_recv().is_err());
    let held = mine
        .iter_mut()
        .map(|a| a.shed.try_recv().is_err())
        .filter(|&open| open)
        .count();
    assert_eq!(held, 3);
    assert_eq!(t.stats().open_pending, 4);
    // Idle keep-alive connections of the address are shed too, busy ones never.
    let last = mine.len() - 1;
    assert_eq!(mine[last].slot.begin_request(), Start::General);
    mine[last].slot.end_request();
    assert_eq!(mine[last - 1].slot.begin_request(), Start::General);
    assert_eq!(mine[last - 2].slot.begin_request(), Start::General);
    let n = t.admit(ip(1)).unwrap();
    assert!(mine[last].shed.try_recv().is_ok());
    assert_eq!(n.slot.begin_request(), Start::General);
    assert_eq!(t.admit(ip(1)).err(), Some(Refusal::AddressLimit));
    assert_eq!(t.stats().refused_address, 1);
    assert!(t.admit(ip(2)).is_ok());
}

#[test]
fn ipv6_addresses_count_by_slash_64_and_mapped_ipv4_as_ipv4() {
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(AddressKey::from(a), AddressKey::from(b));
    assert_ne!(AddressKey::from(a), AddressKey::from(c));
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    assert_eq!(AddressKey::from(mapped), AddressKey::from(ip(1)));
}

#[test]
fn dropped_slots_free_their_address_and_pool() {
    let t = table(4, 2, 1, 2);
    let a = t.admit(ip(1)).unwrap();
    let b = t.admit(ip(1)).unwrap();
    b.slot.begin_request();
    b.slot.end_request();
    drop(a);
    drop(b);
    let s = t.stats();
    assert_eq!((s.open_pending, s.open_general, s.open_reserve), (0, 0, 0));
    let inner = t.lock();
    assert!(inner.addresses.is_empty() && inner.fresh.is_empty() && inner.idle.is_empty());
    assert!(inner.crowded.is_empty());
}

#[test]
fn a_full_pending_pool_sheds_the_most_crowded_address_first() {
    let t = table(6, 10, 0, 10);
    // A lone client, then a flood of five from one address.
    let mut lone = t.admit(ip(1)).unwrap();
    let mut flood: Vec<Admitted> = (0..5).map(|_| t.admit(ip(2)).unwrap()).collect();
    // Newcomers push out the flood's own oldest connections, never the lone client's,
    // although the lone client's is the oldest pending connection.
    let _more: Vec<Admitted> = (0..3).map(|_| t.admit(ip(3)).unwrap()).collect();
    assert!(lone.shed.try_recv().is_err());
    let shed: Vec<bool> = flood
        .iter_mut()
        .map(|a| a.shed.try_recv().is_ok())
        .collect();
    assert_eq!(shed, [true, true, true, false, false]);
    // Now address 3 holds three, address 2 two: the next newcomer sheds from address 3.
    let _next = t.admit(ip(4)).unwrap();
    assert!(lone.shed.try_recv().is_err());
    assert!(flood[3].shed.try_recv().is_err());
    assert_eq!(t.stats().shed_fresh, 4);
    let inner = t.lock();
    assert_eq!(
        inner.crowded.iter().map(|&(n, _)| n).collect::<Vec<_>>(),
        [1, 1, 2, 2]
    );
}
