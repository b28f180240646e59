//! The status file (`docs/vrrpd-config.md`) and Prometheus metrics, rendered from a snapshot.
//! Pure: the daemon builds the snapshot and writes the text.

use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub node: String,
    pub pid: u32,
    pub version: String,
    pub updated_unix_ms: u64,
    pub check: CheckStatus,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckStatus {
    pub ok: bool,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub vrid: u8,
    pub vips: Vec<String>,
    pub state: &'static str,
    pub since_unix_ms: u64,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub priority_reason: String,
    pub master_seen: Option<String>,
    pub last_advert_unix_ms: Option<u64>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    pub drops: Drops,
    /// `pseudo-header` or `plain`: how the peer's checksums verified; null before any advert.
    pub peer_checksum: Option<&'static str>,
}

/// The state machine's own counters, written as they are.
pub use super::fsm::Drops;

impl Status {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn to_metrics(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# HELP hapair_vrrp_state 1 for the current state of each instance.");
        let _ = writeln!(o, "# TYPE hapair_vrrp_state gauge");
        for i in &self.instances {
            for s in ["initialize", "backup", "master", "fault"] {
                let v = u8::from(i.state == s);
                let _ = writeln!(
                    o,
                    "hapair_vrrp_state{{vrrp_instance=\"{}\",vrid=\"{}\",state=\"{s}\"}} {v}",
                    i.name, i.vrid
                );
            }
        }
        type Series = (&'static str, &'static str, fn(&InstanceStatus) -> u64);
        let gauges: [Series; 2] = [
            ("hapair_vrrp_priority", "Effective priority.", |i| u64::from(i.effective_priority)),
            ("hapair_vrrp_base_priority", "Configured priority.", |i| u64::from(i.base_priority)),
        ];
        let counters: [Series; 3] = [
            ("hapair_vrrp_transitions_total", "State transitions.", |i| i.transitions),
            ("hapair_vrrp_adverts_sent_total", "Adverts sent.", |i| i.adverts_sent),
            ("hapair_vrrp_adverts_received_total", "Valid adverts received.", |i| i.adverts_received),
        ];
        for (kind, list) in [("gauge", &gauges[..]), ("counter", &counters[..])] {
            for (name, help, f) in list {
                let _ = writeln!(o, "# HELP {name} {help}");
                let _ = writeln!(o, "# TYPE {name} {kind}");
                for i in &self.instances {
                    let _ = writeln!(o, "{name}{{vrrp_instance=\"{}\",vrid=\"{}\"}} {}", i.name, i.vrid, f(i));
                }
            }
        }
        let _ = writeln!(o, "# HELP hapair_vrrp_drops_total Adverts dropped, by reason.");
        let _ = writeln!(o, "# TYPE hapair_vrrp_drops_total counter");
        for i in &self.instances {
            let d = i.drops;
            for (r, v) in [
                ("ttl", d.ttl),
                ("vrid", d.vrid),
                ("checksum", d.checksum),
                ("auth", d.auth),
                ("interval", d.interval),
                ("version", d.version),
                ("source", d.source),
                ("malformed", d.malformed),
            ] {
                let _ = writeln!(
                    o,
                    "hapair_vrrp_drops_total{{vrrp_instance=\"{}\",vrid=\"{}\",reason=\"{r}\"}} {v}",
                    i.name, i.vrid
                );
            }
        }
        let _ = writeln!(o, "# HELP hapair_check_ok 1 while the health check passes (after fall/rise).");
        let _ = writeln!(o, "# TYPE hapair_check_ok gauge");
        let _ = writeln!(o, "hapair_check_ok {}", u8::from(self.check.ok));
        let _ = writeln!(o, "# HELP hapair_check_consecutive_failures Failed checks in a row.");
        let _ = writeln!(o, "# TYPE hapair_check_consecutive_failures gauge");
        let _ = writeln!(o, "hapair_check_consecutive_failures {}", self.check.consecutive_failures);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text() {
        let s = Status {
            node: "web1".into(),
            pid: 1,
            version: "0.1.0".into(),
            updated_unix_ms: 0,
            check: CheckStatus { ok: true, consecutive_failures: 0, last_error: None },
            instances: vec![InstanceStatus {
                name: "web-51".into(),
                vrid: 51,
                vips: vec!["10.77.1.200/24".into()],
                state: "master",
                since_unix_ms: 0,
                base_priority: 150,
                effective_priority: 150,
                priority_reason: "check ok".into(),
                master_seen: Some("10.77.1.11".into()),
                last_advert_unix_ms: None,
                adverts_sent: 7,
                adverts_received: 0,
                transitions: 2,
                drops: Drops { ttl: 1, ..Drops::default() },
                peer_checksum: None,
            }],
        };
        let m = s.to_metrics();
        for line in [
            "hapair_vrrp_state{vrrp_instance=\"web-51\",vrid=\"51\",state=\"master\"} 1",
            "hapair_vrrp_state{vrrp_instance=\"web-51\",vrid=\"51\",state=\"backup\"} 0",
            "hapair_vrrp_priority{vrrp_instance=\"web-51\",vrid=\"51\"} 150",
            "hapair_vrrp_adverts_sent_total{vrrp_instance=\"web-51\",vrid=\"51\"} 7",
            "hapair_vrrp_drops_total{vrrp_instance=\"web-51\",vrid=\"51\",reason=\"ttl\"} 1",
            "hapair_check_ok 1",
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line} in\n{m}");
        }
        let j: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(j["instances"][0]["drops"]["ttl"], 1);
        assert_eq!(j["instances"][0]["state"], "master");
    }
}
