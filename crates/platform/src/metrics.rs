//! Prometheus counters for `/metrics`, kept in memory. Labels are the matched route (never the raw
//! path, which could carry identifiers) and the status code.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), (u64, f64)>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            let e = m.entry((method.to_owned(), route.to_owned(), status)).or_default();
            e.0 += 1;
            e.1 += seconds;
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self, extra: &[(&str, &str, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP jiceng_http_requests_total HTTP requests by route and status.\n# TYPE jiceng_http_requests_total counter\n");
        let snapshot: Vec<_> = self.requests.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default();
        for ((method, route, status), (n, _)) in &snapshot {
            let _ = writeln!(out, "jiceng_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP jiceng_http_request_seconds_sum Time spent serving requests.\n# TYPE jiceng_http_request_seconds_sum counter\n");
        for ((method, route, status), (_, secs)) in &snapshot {
            let _ = writeln!(out, "jiceng_http_request_seconds_sum{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {secs:.6}");
        }
        for (name, help, value) in extra {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}
