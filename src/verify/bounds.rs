//! The time bounds a failover must meet, from the RFC formulas and the inventory. Pure.
//!
//! The formulas themselves (Skew_Time, Master_Down_Interval) are the daemon's own
//! ([`crate::vrrp::fsm::skew_time`], [`crate::vrrp::fsm::master_down_interval`]): one source of
//! truth, so the drill judges the daemon against the numbers it uses.

use std::time::Duration;

use crate::vrrp::fsm;
use crate::vrrp::packet::Version;

/// Slack allowed on top of the protocol's own bound (process start, polling, scheduling).
pub const MARGIN: Duration = Duration::from_millis(50);

fn wire(version: u8, advert: Duration) -> (Version, u16) {
    if version == 2 {
        // v2 advertises whole seconds.
        (Version::V2, (advert.as_secs().max(1) * 100).min(u64::from(u16::MAX)) as u16)
    } else {
        (Version::V3, (advert.as_millis() / 10).min(u128::from(u16::MAX)) as u16)
    }
}

pub fn skew_time(version: u8, priority: u8, advert: Duration) -> Duration {
    let (v, cs) = wire(version, advert);
    fsm::skew_time(v, priority, cs)
}

pub fn master_down_interval(version: u8, priority: u8, advert: Duration) -> Duration {
    let (v, cs) = wire(version, advert);
    fsm::master_down_interval(v, priority, cs)
}

/// A graceful stop or a switchover between two hapair daemons: the backup takes over as soon
/// as it hears the master resign. The drill times it from just before `systemctl stop` on the
/// node, so systemd's own round trip (D-Bus, the signal) is in the figure: twice the margin. What
/// clients see is judged separately (no failed request).
pub fn hapair_handover() -> Duration {
    MARGIN * 2
}

/// nginx on the master stops or is killed: the daemon sees its master process exit (pidfd),
/// advertises its lowered priority at once, and the hapair peer takes over on that advert.
/// The goal (300 ms) is the bound: process exit and scheduling on loaded nodes.
pub fn nginx_event() -> Duration {
    Duration::from_millis(250) + MARGIN
}

/// A graceful stop: the master sends priority 0 and the backup takes over after its Skew_Time
/// (RFC 5798 §6.4.2).
pub fn graceful(version: u8, taker_priority: u8, advert: Duration) -> Duration {
    skew_time(version, taker_priority, advert) + MARGIN
}

/// A crash (or link down): the backup waits out Master_Down_Interval.
pub fn crash(version: u8, taker_priority: u8, advert: Duration) -> Duration {
    master_down_interval(version, taker_priority, advert) + MARGIN
}

/// nginx stops on the master: `fall` failed probes, one `interval` apart, lower its priority;
/// a preempting backup discards the lower-priority adverts (RFC 5798 §6.4.2) and takes over
/// when its Master_Down_Timer, last reset by a higher-priority advert, fires.
pub fn check_failure(
    version: u8,
    taker_priority: u8,
    advert: Duration,
    check_interval: Duration,
    fall: u32,
) -> Duration {
    check_interval * fall + master_down_interval(version, taker_priority, advert) + MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_time_matches_the_rfc_examples() {
        // v2, priority 100, 1 s: (256 − 100) / 256 s = 609.375 ms.
        assert_eq!(skew_time(2, 100, Duration::from_secs(1)), Duration::from_micros(609_375));
        // v3, priority 100, 100 cs: (156 × 100 cs) / 256 = 609.375 ms, as the daemon computes
        // it (this used to truncate to 600 ms).
        assert_eq!(skew_time(3, 100, Duration::from_secs(1)), Duration::from_micros(609_375));
        // v3, 100 ms = 10 cs: 156 × 10 cs / 256 = 60.9375 ms.
        assert_eq!(skew_time(3, 100, Duration::from_millis(100)), Duration::from_micros(60_937));
        assert_eq!(skew_time(3, 255, Duration::from_secs(1)), Duration::from_micros(3_906));
    }

    #[test]
    fn the_bounds_use_the_daemons_formulas() {
        for (v, p, ms) in [(2, 90, 1000), (3, 100, 1000), (3, 150, 100), (3, 1, 40950), (3, 254, 10)] {
            let ver = if v == 2 { Version::V2 } else { Version::V3 };
            let cs = (ms / 10) as u16;
            assert_eq!(skew_time(v, p, Duration::from_millis(ms)), fsm::skew_time(ver, p, cs));
            assert_eq!(master_down_interval(v, p, Duration::from_millis(ms)), fsm::master_down_interval(ver, p, cs));
        }
    }

    #[test]
    fn master_down_interval_is_three_intervals_plus_skew() {
        assert_eq!(master_down_interval(3, 100, Duration::from_secs(1)), Duration::from_micros(3_609_375));
        assert_eq!(master_down_interval(3, 100, Duration::from_millis(100)), Duration::from_micros(360_937));
        assert_eq!(master_down_interval(2, 90, Duration::from_secs(1)), Duration::from_micros(3_648_437));
    }

    #[test]
    fn bounds_add_the_margin() {
        assert_eq!(graceful(3, 100, Duration::from_secs(1)), Duration::from_micros(659_375));
        assert_eq!(crash(3, 100, Duration::from_millis(100)), Duration::from_micros(410_937));
        assert_eq!(
            check_failure(3, 100, Duration::from_secs(1), Duration::from_secs(1), 2),
            Duration::from_micros(5_659_375)
        );
    }
}
