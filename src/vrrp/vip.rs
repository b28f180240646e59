//! VIPs on the interface, through rtnetlink. Every VIP the daemon adds carries its label
//! (`eth0:hapair`), so a restarted daemon finds and removes what a killed one left behind.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};

use crate::values::VipCidr;

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
