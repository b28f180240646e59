//! VIPs on the interface, through rtnetlink. Every VIP the daemon adds carries its label
//! (`eth0:hapair`), so a restarted daemon finds and removes what a killed one left behind.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;

use crate::values::VipCidr;

/// The routing protocol of our routes (`ip route show table all proto 72`), so that a
/// restarted daemon finds those a killed one left.
const RTPROT_HAPAIR: RouteProtocol = RouteProtocol::Other(72);

/// The metric of our route to a VIP's subnet ([`Vips::add_subnet_route`]): never 0, the
/// kernel's prefix route's, so ours neither replaces it nor is chosen while it is there.
const SUBNET_ROUTE_METRIC: u32 = 7272;

const TABLE_MAIN: u32 = 254;
const TABLE_LOCAL: u32 = 255;

pub struct Vips {
    handle: rtnetlink::Handle,
    index: u32,
    label: String,
}

impl Vips {
    /// Open a netlink connection (its task runs on the current tokio runtime).
    pub fn open(index: u32, label: String) -> std::io::Result<Vips> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Vips { handle, index, label })
    }

    /// Add `vip` with our label; adding one that is already there is not an error.
    pub async fn add(&self, vip: VipCidr) -> Result<(), String> {
        let mut req = self.handle.address().add(self.index, IpAddr::V4(vip.addr()), vip.prefix()).replace();
        req.message_mut().attributes.push(AddressAttribute::Label(self.label.clone()));
        req.execute().await.map_err(|e| format!("cannot add VIP `{vip}`: {e}"))
    }

    /// Remove `vip` if present (whoever added it: an address we must not hold is released).
    pub async fn remove(&self, vip: VipCidr) -> Result<bool, String> {
        let mut removed = false;
        for m in self.list().await? {
            if has_addr(&m, vip) {
                self.handle.address().del(m).execute().await.map_err(|e| format!("cannot remove VIP `{vip}`: {e}"))?;
                removed = true;
            }
        }
        Ok(removed)
    }

    /// The addresses carrying our label (left by an earlier run), with their prefix length.
    pub async fn labelled(&self) -> Result<Vec<(Ipv4Addr, u8)>, String> {
        Ok(self
            .list()
            .await?
            .iter()
            .filter(|m| self.ours(m))
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(IpAddr::V4(a)) => Some((*a, m.header.prefix_len)),
                    _ => None,
                })
            })
            .collect())
    }

    fn ours(&self, m: &AddressMessage) -> bool {
        m.attributes.iter().any(|a| matches!(a, AddressAttribute::Label(l) if *l == self.label))
    }

    /// Remove every address carrying our label (left behind by a daemon killed with SIGKILL),
    /// except those in `keep`.
    pub async fn remove_stale(&self, keep: &[Ipv4Addr]) -> Result<Vec<String>, String> {
        let mut gone = Vec::new();
        for m in self.list().await? {
            let kept =
                m.attributes.iter().any(|a| matches!(a, AddressAttribute::Local(IpAddr::V4(x)) if keep.contains(x)));
            if !self.ours(&m) || kept {
                continue;
            }
            let addr = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(a) | AddressAttribute::Address(a) => {
                    Some(format!("{a}/{}", m.header.prefix_len))
                }
                _ => None,
            });
            self.handle.address().del(m).execute().await.map_err(|e| format!("cannot remove a stale VIP: {e}"))?;
            gone.extend(addr);
        }
        Ok(gone)
    }

    /// Keep accepting packets for `addr` without holding it as an address (a local route of
    /// our own protocol, which outlives the address's; see [`super::strays`]).
    pub async fn add_local_route(&self, addr: Ipv4Addr) -> Result<(), String> {
        self.handle
            .route()
            .add(self.local_route(addr))
            .replace()
            .execute()
            .await
            .map_err(|e| format!("cannot add a local route for `{addr}`: {e}"))
    }

    /// Remove our local route for `addr`, if present.
    pub async fn remove_local_route(&self, addr: Ipv4Addr) -> Result<(), String> {
        match self.handle.route().del(self.local_route(addr)).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ESRCH => Ok(()),
            Err(e) => Err(format!("cannot remove the local route for `{addr}`: {e}")),
        }
    }

    /// Keep a route to the subnet of `vip` on the interface while the address (and with it the
    /// kernel's prefix route) is gone: the open connections of clients in that subnet are
    /// answered while the node lingers. Only a VIP off the node's own subnet needs it (the
    /// node's address carries a route to its subnet); a /32 has no subnet.
    pub async fn add_subnet_route(&self, vip: VipCidr) -> Result<(), String> {
        self.handle
            .route()
            .add(self.subnet_route(vip))
            .replace()
            .execute()
            .await
            .map_err(|e| format!("cannot add a route to the subnet of `{vip}`: {e}"))
    }

    /// Remove our route to the subnet of `vip`, if present.
    pub async fn remove_subnet_route(&self, vip: VipCidr) -> Result<(), String> {
        match self.handle.route().del(self.subnet_route(vip)).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ESRCH => Ok(()),
            Err(e) => Err(format!("cannot remove the route to the subnet of `{vip}`: {e}")),
        }
    }

    /// Remove every route of our protocol on the interface, local routes and routes to a VIP's
    /// subnet (left by a killed daemon); each is named `address/prefix`.
    pub async fn remove_stale_routes(&self) -> Result<Vec<String>, String> {
        let mut gone = Vec::new();
        for table in [TABLE_LOCAL, TABLE_MAIN] {
            let all: Vec<RouteMessage> = self
                .handle
                .route()
                .get(RouteMessageBuilder::<Ipv4Addr>::new().table_id(table).build())
                .execute()
                .try_collect()
                .await
                .map_err(|e| format!("cannot list the routes: {e}"))?;
            for r in all {
                let on_ours = r.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == self.index));
                let in_table = u32::from(r.header.table) == table
                    || r.attributes.iter().any(|a| matches!(a, RouteAttribute::Table(t) if *t == table));
                let addr = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(rtnetlink::packet_route::route::RouteAddress::Inet(x)) => Some(*x),
                    _ => None,
                });
                if let (true, true, true, Some(addr)) = (r.header.protocol == RTPROT_HAPAIR, on_ours, in_table, addr) {
                    let shown = format!("{addr}/{}", r.header.destination_prefix_length);
                    match self.handle.route().del(r).execute().await {
                        Ok(()) => gone.push(shown),
                        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ESRCH => {}
                        Err(e) => return Err(format!("cannot remove the route to `{shown}`: {e}")),
                    }
                }
            }
        }
        Ok(gone)
    }

    fn subnet_route(&self, vip: VipCidr) -> RouteMessage {
        let prefix = vip.prefix();
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::from(u32::from(vip.addr()) & mask), prefix)
            .output_interface(self.index)
            .table_id(TABLE_MAIN)
            .kind(RouteType::Unicast)
            .scope(RouteScope::Link)
            .protocol(RTPROT_HAPAIR)
            .priority(SUBNET_ROUTE_METRIC)
            .build()
    }

    fn local_route(&self, addr: Ipv4Addr) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(addr, 32)
            .output_interface(self.index)
            .table_id(TABLE_LOCAL)
            .kind(RouteType::Local)
            .scope(RouteScope::Host)
            .protocol(RTPROT_HAPAIR)
            .build()
    }

    async fn list(&self) -> Result<Vec<AddressMessage>, String> {
        self.handle
            .address()
            .get()
            .set_link_index_filter(self.index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| format!("cannot list the addresses of the interface: {e}"))
    }
}

fn has_addr(m: &AddressMessage, vip: VipCidr) -> bool {
    m.attributes.iter().any(|a| matches!(a, AddressAttribute::Local(IpAddr::V4(x)) if *x == vip.addr()))
}
