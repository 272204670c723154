//! The timeout plan of a stack: its values as hops for the alignment checker.

use std::time::Duration;

use tollgate_breaker::{Breaker, Window};
use tollgate_core::Clock;
use tollgate_deadline::checker::{Hop, Plan, Role};
use tollgate_drain::Drain;

/// The breaker's open wait and, for a time window, its length.
fn breaker_times<C: Clock>(breaker: &Breaker<C>) -> (Duration, Option<Duration>) {
    let config = breaker.config();
    let window = match config.window() {
        Window::Time { length, .. } => Some(length),
        Window::Count(_) => None,
    };
    (config.open_wait_for(0), window)
}

fn with_breaker<C: Clock>(hop: Hop, breaker: Option<&Breaker<C>>) -> Hop {
    match breaker.map(breaker_times) {
        Some((open, Some(window))) => hop.breaker(open, window),
        _ => hop,
    }
}

/// A server: the `server` hop runs requests for at most `deadline` and drains; the
/// `handler` hop inside it is bounded by the per-try timeout, judged by the breaker.
pub(crate) fn server<C: Clock>(
    drain: &Drain,
    deadline: Option<Duration>,
    breaker: Option<&Breaker<C>>,
    per_try: Option<Duration>,
) -> Plan {
    let grace = drain.config().deadline();
    let readiness = drain.config().propagation_delay();
    let mut server = Hop::new("server", Role::Server);
    if let Some(deadline) = deadline {
        server = server.request(deadline).drain(grace, readiness);
    }
    let mut hops = Vec::new();
    match per_try {
        Some(per_try) => {
            let mut handler = Hop::new("handler", Role::Server).request(per_try);
            handler = with_breaker(handler, breaker);
            if deadline.is_none() {
                handler = handler.drain(grace, readiness);
            }
            hops.push(server);
            hops.push(handler);
        }
        None => hops.push(with_breaker(server, breaker)),
    }
    Plan::new(hops)
}

/// A client: the `client` hop's total is its deadline, each try bounded by the
/// per-try timeout, judged by the breaker.
pub(crate) fn client<C: Clock>(
    total: Option<Duration>,
    breaker: Option<&Breaker<C>>,
    per_try: Option<Duration>,
) -> Plan {
    let mut client = Hop::new("client", Role::Client);
    if let Some(total) = total {
        client = client.request(total);
    }
    if let Some(per_try) = per_try {
        client = client.per_try(per_try, 0, Duration::ZERO);
    }
    Plan::new(vec![with_breaker(client, breaker)])
}
