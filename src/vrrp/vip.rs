//! VIPs on the interface, through rtnetlink. Every VIP the daemon adds carries its label
//! (`eth0:hapair`), so a restarted daemon finds and removes what a killed one left behind.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;

use crate::values::VipCidr;

/// The routing protocol of our local routes (`ip route show table local proto 72`), so that a
/// restarted daemon finds those a killed one left.
const RTPROT_HAPAIR: RouteProtocol = RouteProtocol::Other(72);

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

    /// Remove every local route of our protocol on the interface (left by a killed daemon).
    pub async fn remove_stale_local_routes(&self) -> Result<Vec<Ipv4Addr>, String> {
        let all: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().table_id(255).build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| format!("cannot list the local routes: {e}"))?;
        let mut gone = Vec::new();
        for r in all {
            let on_ours = r.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == self.index));
            let addr = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(rtnetlink::packet_route::route::RouteAddress::Inet(x)) => Some(*x),
                _ => None,
            });
            if let (true, true, Some(addr)) = (r.header.protocol == RTPROT_HAPAIR, on_ours, addr) {
                self.remove_local_route(addr).await?;
                gone.push(addr);
            }
        }
        Ok(gone)
    }

    fn local_route(&self, addr: Ipv4Addr) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(addr, 32)
            .output_interface(self.index)
            .table_id(255)
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
