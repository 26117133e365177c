//! `kind = "http"`: one purchase is one HTTP/1.1 request to the user's
//! service. Each client keeps its own keep-alive connection to each
//! instance (as a browser would), takes the instances in turn, and
//! reconnects with backoff. The reply (a word at a JSON pointer, or the
//! status code) is looked up in the user's mapping; no reply, a dropped
//! connection or an unmapped 5xx is in doubt, exactly as a Redis write
//! without a reply.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;

mod reply;
mod request;

use super::{Client, Context};
use crate::outcome::{ErrorKind, Outcome, PurchaseReport};
use crate::scenario::{HttpSettings, Reply, StrategySettings};

/// Longest reply body read; a longer one is not whole (in doubt).
const MAX_BODY: usize = 64 * 1024;
/// Reconnect backoff per instance: doubling from the first to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(10);
const RECONNECT_MAX: Duration = Duration::from_millis(250);

type Sender = SendRequest<Full<Bytes>>;

/// Where requests go: an instance's base URL, or the fixed URL's host.
#[derive(Debug, Clone)]
struct Place {
    /// `host:port`, for connecting and the Host header.
    authority: String,
    /// `http://host:port`, what `{instance}` stands for.
    base: String,
}

/// Purchases under way per instance, in this worker: which instance is
/// busiest, and what a killed one had in flight.
pub type InstanceLoad = Rc<[Cell<u32>]>;

pub struct Http {
    pub settings: StrategySettings,
    http: HttpSettings,
    places: Rc<[Place]>,
    /// Reply word (or status) -> outcome; rejection words leaked once per
    /// process so the outcome stays `Copy`.
    replies: Vec<(String, Outcome)>,
    load: InstanceLoad,
    requests: request::Requests,
}

/// One client's connections, one per place, opened on first use.
pub struct Session {
    conns: Vec<Option<Sender>>,
    /// Per place: not before then after a failed connect, and the pause.
    backoff: Vec<(Option<Instant>, Duration)>,
    next: usize,
}

impl Session {
    pub fn new(places: usize) -> Session {
        Session {
            conns: (0..places).map(|_| None).collect(),
            backoff: vec![(None, RECONNECT_FIRST); places],
            next: 0,
        }
    }
}

impl Http {
    /// `instances`: the base URLs of the `[service]` instances, for a URL
    /// that starts with `{instance}`.
    pub fn new(
        settings: StrategySettings,
        http: &HttpSettings,
        instances: &[String],
        load: InstanceLoad,
    ) -> Http {
        let places: Vec<Place> = match http.fixed_authority().filter(|_| !http.to_instances()) {
            Some(authority) => vec![Place {
                base: format!("http://{authority}"),
                authority,
            }],
            None => instances
                .iter()
                .map(|base| Place {
                    authority: base.trim_start_matches("http://").to_owned(),
                    base: base.clone(),
                })
                .collect(),
        };
        let replies = http
            .replies
            .iter()
            .map(|(text, reply)| {
                let outcome = match reply {
                    Reply::Sold => Outcome::Sold,
                    Reply::SoldOut => Outcome::SoldOut,
                    // Refused at validation: a service has no steps.
                    Reply::Next => Outcome::Error(ErrorKind::UnexpectedReply),
                    Reply::Rejected(word) => {
                        Outcome::Rejected(Box::leak(word.clone().into_boxed_str()))
                    }
                };
                (text.clone(), outcome)
            })
            .collect();
        Http {
            settings,
            requests: request::Requests::new(http, places.len()),
            http: http.clone(),
            places: places.into(),
            replies,
            load,
        }
    }

    pub async fn purchase(&self, client: &mut Client, ctx: &Context<'_>) -> PurchaseReport {
        let mut report = PurchaseReport::new();
        let started = Instant::now();
        let token = match self.requests.uses_token {
            true => client.purchase_id(),
            false => String::new(),
        };
        let Some(mut session) = client.http.take() else {
            report.outcome = Outcome::Error(ErrorKind::Io);
            return report;
        };
        let (outcome, unexpected, order) = self.buy(&mut session, ctx, &token).await;
        client.http = Some(session);
        report.outcome = outcome;
        report.unexpected = unexpected;
        report.order_id = order;
        report.critical_section = Some(started.elapsed());
        report
    }

    /// The request on the next place that takes a connection within the
    /// timeout.
    async fn buy(
        &self,
        session: &mut Session,
        ctx: &Context<'_>,
        token: &str,
    ) -> (Outcome, Option<String>, Option<String>) {
        let deadline = Instant::now() + self.http.timeout;
        let place = match self.connected(session, ctx, deadline).await {
            Ok(place) => place,
            // Nothing was sent: not in doubt.
            Err(NoPlace::Refused) => return (Outcome::Error(ErrorKind::Io), None, None),
            Err(NoPlace::Stopped) => return (Outcome::Cancelled, None, None),
        };
        let load = &self.load[place.min(self.load.len().saturating_sub(1))];
        load.set(load.get() + 1);
        let result = self.exchange(session, place, ctx, token, deadline).await;
        load.set(load.get() - 1);
        match result {
            Exchange::Reply(status, body) => {
                let judged = reply::judge(
                    status,
                    &body,
                    self.http.reply.as_deref(),
                    self.http.order_id.as_deref(),
                    &self.replies,
                );
                (judged.outcome, judged.unexpected, judged.order_id)
            }
            Exchange::NotSent => (Outcome::Error(ErrorKind::Io), None, None),
            Exchange::Lost => {
                // A late reply must not answer the next request.
                session.conns[place] = None;
                (Outcome::InDoubt, None, None)
            }
        }
    }

    /// Sends the request and reads the whole reply by `deadline`. A
    /// connection found closed before the request left is replaced once;
    /// a reply cut short (or longer than [`MAX_BODY`]) is not whole: in
    /// doubt.
    async fn exchange(
        &self,
        session: &mut Session,
        place: usize,
        ctx: &Context<'_>,
        token: &str,
        deadline: Instant,
    ) -> Exchange {
        let Some(mut request) = self.requests.build(place, &self.places[place], ctx, token) else {
            return Exchange::NotSent;
        };
        for attempt in 0..2 {
            let Some(sender) = session.conns[place].as_mut() else {
                return Exchange::NotSent;
            };
            let sent = tokio::time::timeout_at(deadline.into(), async {
                if sender.ready().await.is_err() {
                    return Err(Some(request));
                }
                let response = sender
                    .try_send_request(request)
                    .await
                    .map_err(|mut e| e.take_message())?;
                let status = response.status().as_u16();
                let body = Limited::new(response.into_body(), MAX_BODY).collect().await;
                Ok(body.map(|b| (status, b.to_bytes())).ok())
            })
            .await;
            match sent {
                Ok(Ok(Some((status, body)))) => return Exchange::Reply(status, body),
                // Never left: the keep-alive connection had closed.
                Ok(Err(Some(unsent))) if attempt == 0 => {
                    request = unsent;
                    session.conns[place] = None;
                    if !self.open(session, place, deadline).await {
                        return Exchange::NotSent;
                    }
                }
                Ok(Err(Some(_))) => return Exchange::NotSent,
                Ok(Ok(None)) | Ok(Err(None)) | Err(_) => return Exchange::Lost,
            }
        }
        Exchange::Lost
    }

    /// The next place in turn with a live connection or one just opened;
    /// a place that refused waits out its backoff, until `deadline`.
    async fn connected(
        &self,
        session: &mut Session,
        ctx: &Context<'_>,
        deadline: Instant,
    ) -> Result<usize, NoPlace> {
        let n = self.places.len();
        loop {
            let now = Instant::now();
            for _ in 0..n {
                let place = session.next % n;
                session.next = session.next.wrapping_add(1);
                if session.conns[place]
                    .as_ref()
                    .is_some_and(|s| !s.is_closed())
                {
                    return Ok(place);
                }
                if session.backoff[place].0.is_some_and(|at| at > now) {
                    continue;
                }
                if self.open(session, place, deadline).await {
                    return Ok(place);
                }
            }
            let earliest = session.backoff.iter().filter_map(|(at, _)| *at).min();
            let wait = earliest.unwrap_or(now + RECONNECT_FIRST);
            if wait >= deadline {
                return Err(NoPlace::Refused);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wait.into()) => {}
                () = ctx.stop.stopped() => return Err(NoPlace::Stopped),
            }
        }
    }

    /// Opens a connection to `place` by `deadline`; on failure backs off
    /// there.
    async fn open(&self, session: &mut Session, place: usize, deadline: Instant) -> bool {
        let authority = &self.places[place].authority;
        let connect = async {
            let stream = tokio::net::TcpStream::connect(authority.as_str())
                .await
                .ok()?;
            let _ = stream.set_nodelay(true);
            let io = hyper_util::rt::TokioIo::new(stream);
            let (sender, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            Some(sender)
        };
        let opened = tokio::time::timeout_at(deadline.into(), connect)
            .await
            .ok()
            .flatten();
        let backoff = &mut session.backoff[place];
        match opened {
            Some(sender) => {
                session.conns[place] = Some(sender);
                *backoff = (None, RECONNECT_FIRST);
                true
            }
            None => {
                session.conns[place] = None;
                *backoff = (
                    Some(Instant::now() + backoff.1),
                    (backoff.1 * 2).min(RECONNECT_MAX),
                );
                false
            }
        }
    }
}

/// Why no place took the request.
enum NoPlace {
    /// Every place refused until the timeout.
    Refused,
    /// The stop rule came first.
    Stopped,
}

enum Exchange {
    Reply(u16, Bytes),
    /// Nothing reached the service: no connection.
    NotSent,
    /// Sent, and no whole reply came: maybe applied.
    Lost,
}
