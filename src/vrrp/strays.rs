//! Connections open at a hand-over between the two hapair nodes are carried over.
//!
//! When the VIPs move from a live node to its peer (a switchover, a graceful stop, a
//! preemption, a failing check with a weight), clients switch to the new holder when its
//! gratuitous ARP reaches them. A request in flight at that instant has its next segments sent
//! to the new holder, which does not know the connection: it answers with a reset (or its
//! firewall drops the segment and the client times out). So for [`STRAY_WINDOW`]:
//!
//! - the new holder forwards such segments, unchanged, to the old holder's MAC address
//!   ([`forward`]: TCP without SYN, to a VIP, that its connection tracking sees as new — no
//!   local connection has them — duplicated to the peer and dropped here);
//! - the old holder, having removed the VIP addresses, keeps a local route for each (so its
//!   open connections still receive them) and, for a VIP off the node's subnet, a route to that
//!   subnet (its prefix route left with the address, and clients there must still be answered),
//!   stops answering ARP for them, rewrites the sender address of its own ARP requests (else
//!   they would point clients back at it) and drops forwarded segments of connections it does
//!   not have either ([`linger`]).
//!
//! The nftables tables are named after the interface's index and the VRID, and are created
//! and deleted with `nft -f -` (the interface by index and addresses in dotted form: nothing
//! from a configuration is spliced in as text). Without `nft` the daemon says so once and the
//! hand-over behaves as before: such requests fail.
//!
//! [`STRAY_WINDOW`]: super::fsm::STRAY_WINDOW

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// How long one `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(2);

/// The name of one of our tables: `hapair_<kind>_<ifindex>_<vrid>`.
fn table(kind: &str, ifindex: u32, vrid: u8) -> String {
    format!("hapair_{kind}_{ifindex}_{vrid}")
}

fn set(vips: &[Ipv4Addr]) -> String {
    let v: Vec<String> = vips.iter().map(Ipv4Addr::to_string).collect();
    format!("{{ {} }}", v.join(", "))
}

/// Replace the table (an existing one is deleted in the same transaction).
fn replace(family: &str, name: &str, body: &str) -> String {
    delete(family, name) + &format!("table {family} {name} {{\n{body}}}\n")
}

/// A TCP segment without SYN, to a VIP, on the interface, that connection tracking does not
/// place in a connection of this node: new (picked up mid-stream) or invalid (it matches only
/// a finished connection of the same addresses and ports, in TIME-WAIT here since the node last
/// held the VIPs).
fn stray(ifindex: u32, vips: &[Ipv4Addr]) -> String {
    format!("iif {ifindex} ip daddr {} tcp flags & syn == 0 ct state new,invalid", set(vips))
}

const PREROUTING: &str = "type filter hook prerouting priority -150; policy accept;";

/// The new holder: strays go to `peer`, unchanged (a copy routed to its MAC address), and are
/// dropped here.
pub fn forward(ifindex: u32, vrid: u8, vips: &[Ipv4Addr], peer: Ipv4Addr) -> String {
    let body = format!(
        "  chain strays {{\n    {PREROUTING}\n    {} dup to {peer} device {ifindex} drop\n  }}\n",
        stray(ifindex, vips)
    );
    replace("ip", &table("forward", ifindex, vrid), &body)
}

/// The old holder: no ARP answers for the VIPs; its own ARP requests sent from a VIP are sent
/// from `own` instead; strays (forwarded segments of connections it does not have either) are
/// dropped rather than answered with a reset.
pub fn linger(ifindex: u32, vrid: u8, vips: &[Ipv4Addr], own: Ipv4Addr) -> String {
    let name = table("linger", ifindex, vrid);
    let mut arp = String::new();
    let _ = write!(
        arp,
        "  chain in {{\n    type filter hook input priority 0; policy accept;\n    \
         arp operation request arp daddr ip {} drop\n  }}\n",
        set(vips)
    );
    let _ = write!(
        arp,
        "  chain out {{\n    type filter hook output priority 0; policy accept;\n    \
         arp saddr ip {} arp saddr ip set {own}\n  }}\n",
        set(vips)
    );
    let ip = format!("  chain strays {{\n    {PREROUTING}\n    {} drop\n  }}\n", stray(ifindex, vips));
    replace("arp", &name, &arp) + &replace("ip", &name, &ip)
}

/// Delete what [`forward`] made, if it exists.
pub fn stop_forward(ifindex: u32, vrid: u8) -> String {
    delete("ip", &table("forward", ifindex, vrid))
}

/// Delete what [`linger`] made, if it exists.
pub fn stop_linger(ifindex: u32, vrid: u8) -> String {
    let name = table("linger", ifindex, vrid);
    delete("arp", &name) + &delete("ip", &name)
}

/// Delete the table if it exists.
fn delete(family: &str, name: &str) -> String {
    format!("table {family} {name}\ndelete table {family} {name}\n")
}

/// Why `nft` could not do it.
#[derive(Debug, PartialEq, Eq)]
pub enum NftError {
    /// No `nft` on the node.
    Missing,
    Failed(String),
}

/// Run `nft -f -` with `script`, bounded by [`NFT_TIMEOUT`].
pub async fn nft(script: &str) -> Result<(), NftError> {
    let mut child = match tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NftError::Missing),
        Err(e) => return Err(NftError::Failed(format!("cannot run `nft`: {e}"))),
    };
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).await?;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(NFT_TIMEOUT, run).await {
        Err(_) => Err(NftError::Failed(format!("`nft` did not finish within {} s", NFT_TIMEOUT.as_secs()))),
        Ok(Err(e)) => Err(NftError::Failed(format!("`nft`: {e}"))),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            Err(NftError::Failed(format!("`nft` failed ({}): {first}", out.status)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 200), Ipv4Addr::new(10, 77, 0, 201)];

    #[test]
    fn the_new_holder_forwards_only_segments_of_connections_it_does_not_have() {
        assert_eq!(
            forward(3, 51, &VIPS, Ipv4Addr::new(10, 77, 0, 11)),
            "table ip hapair_forward_3_51\n\
             delete table ip hapair_forward_3_51\n\
             table ip hapair_forward_3_51 {\n  \
             chain strays {\n    \
             type filter hook prerouting priority -150; policy accept;\n    \
             iif 3 ip daddr { 10.77.0.200, 10.77.0.201 } tcp flags & syn == 0 ct state new,invalid \
             dup to 10.77.0.11 device 3 drop\n  \
             }\n\
             }\n"
        );
        assert_eq!(stop_forward(3, 51), "table ip hapair_forward_3_51\ndelete table ip hapair_forward_3_51\n");
    }

    #[test]
    fn the_old_holder_answers_no_arp_for_the_vips_never_sends_from_them_and_resets_nothing() {
        assert_eq!(
            linger(3, 51, &VIPS[..1], Ipv4Addr::new(10, 77, 0, 12)),
            "table arp hapair_linger_3_51\n\
             delete table arp hapair_linger_3_51\n\
             table arp hapair_linger_3_51 {\n  \
             chain in {\n    \
             type filter hook input priority 0; policy accept;\n    \
             arp operation request arp daddr ip { 10.77.0.200 } drop\n  \
             }\n  \
             chain out {\n    \
             type filter hook output priority 0; policy accept;\n    \
             arp saddr ip { 10.77.0.200 } arp saddr ip set 10.77.0.12\n  \
             }\n\
             }\n\
             table ip hapair_linger_3_51\n\
             delete table ip hapair_linger_3_51\n\
             table ip hapair_linger_3_51 {\n  \
             chain strays {\n    \
             type filter hook prerouting priority -150; policy accept;\n    \
             iif 3 ip daddr { 10.77.0.200 } tcp flags & syn == 0 ct state new,invalid drop\n  \
             }\n\
             }\n"
        );
        assert_eq!(
            stop_linger(3, 51),
            "table arp hapair_linger_3_51\ndelete table arp hapair_linger_3_51\n\
             table ip hapair_linger_3_51\ndelete table ip hapair_linger_3_51\n"
        );
    }
}
