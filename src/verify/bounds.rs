//! The time bounds a failover must meet, from the RFC formulas and the inventory. Pure.
//!
//! RFC 3768 §6.1 (v2): Skew_Time = (256 − Priority) / 256 seconds.
//! RFC 5798 §6.1 (v3): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256, in
//! centiseconds (integer arithmetic). Both: Master_Down_Interval = 3 × interval + Skew_Time.

use std::time::Duration;

/// Slack allowed on top of the protocol's own bound (process start, polling, scheduling).
pub const MARGIN: Duration = Duration::from_millis(50);

pub fn skew_time(version: u8, priority: u8, advert: Duration) -> Duration {
    let p = 256 - priority as u64;
    if version == 2 {
        Duration::from_micros(p * 1_000_000 / 256)
    } else {
        let cs = advert.as_millis() as u64 / 10;
        Duration::from_millis((p * cs / 256) * 10)
    }
}

pub fn master_down_interval(version: u8, priority: u8, advert: Duration) -> Duration {
    let interval = if version == 2 { Duration::from_secs(advert.as_secs().max(1)) } else { advert };
    interval * 3 + skew_time(version, priority, advert)
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
        // v3, priority 100, 100 cs: (156 × 100) / 256 = 60 cs.
        assert_eq!(skew_time(3, 100, Duration::from_secs(1)), Duration::from_millis(600));
        // v3, 100 ms = 10 cs: 156 × 10 / 256 = 6 cs.
        assert_eq!(skew_time(3, 100, Duration::from_millis(100)), Duration::from_millis(60));
        assert_eq!(skew_time(3, 255, Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn master_down_interval_is_three_intervals_plus_skew() {
        assert_eq!(master_down_interval(3, 100, Duration::from_secs(1)), Duration::from_millis(3600));
        assert_eq!(master_down_interval(3, 100, Duration::from_millis(100)), Duration::from_millis(360));
        assert_eq!(master_down_interval(2, 90, Duration::from_secs(1)), Duration::from_micros(3_648_437));
    }

    #[test]
    fn bounds_add_the_margin() {
        assert_eq!(graceful(3, 100, Duration::from_secs(1)), Duration::from_millis(650));
        assert_eq!(crash(3, 100, Duration::from_millis(100)), Duration::from_millis(410));
        assert_eq!(
            check_failure(3, 100, Duration::from_secs(1), Duration::from_secs(1), 2),
            Duration::from_millis(5650)
        );
    }
}
