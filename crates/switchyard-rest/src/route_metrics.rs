//! The client's per-request metrics (`switchyard_rest_requests_total{route,status}`,
//! `switchyard_rest_upstream_seconds{route}`, `switchyard_rest_queue_seconds`), their handles
//! resolved once per route and status and then reused: registering a labelled metric copies
//! and hashes its labels, which cost more than the rest of the client's bookkeeping together.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use hashbrown::HashMap;
use metrics::{Counter, Histogram};

/// Routes whose handles are kept; past it the cache starts again (route keys are templates,
/// but a flood of unknown routes must not grow memory without bound).
const MAX_ROUTES: usize = 1024;

/// One route's handles.
#[derive(Debug)]
struct Route {
    upstream: Histogram,
    /// Requests by status, the few statuses a route sees.
    statuses: Mutex<Vec<(u16, Counter)>>,
}

/// Handles by route key, resolved at a route's first request (so after the process
/// installed its recorder).
#[derive(Debug, Default)]
pub(crate) struct RouteMetrics {
    routes: Mutex<HashMap<Box<str>, Arc<Route>>>,
}

impl RouteMetrics {
    fn route(&self, key: &str) -> Arc<Route> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = routes.get(key) {
            return r.clone();
        }
        if routes.len() >= MAX_ROUTES {
            routes.clear();
        }
        let r = Arc::new(Route {
            upstream: metrics::histogram!("switchyard_rest_upstream_seconds", "route" => key.to_owned()),
            statuses: Mutex::default(),
        });
        routes.insert(key.into(), r.clone());
        r
    }

    /// Records one exchange with Discord: its route, the status it got (0: none, counted as
    /// 502), when it was sent, and how long it queued.
    pub(crate) fn record(&self, key: &str, status: u16, sent: Instant, queued: f64) {
        let route = self.route(key);
        route.upstream.record(sent.elapsed().as_secs_f64());
        metrics::histogram!("switchyard_rest_queue_seconds").record(queued);
        let mut statuses = route
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, c)) = statuses.iter().find(|(s, _)| *s == status) {
            c.increment(1);
            return;
        }
        let label = if status == 0 {
            "502".to_owned()
        } else {
            status.to_string()
        };
        let c = metrics::counter!("switchyard_rest_requests_total", "route" => key.to_owned(), "status" => label);
        c.increment(1);
        if statuses.len() < 64 {
            statuses.push((status, c));
        }
    }
}
