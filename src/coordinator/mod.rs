//! The coordinator: opens Redis, sets the stock, starts the workers
//! together, merges what they stream, and audits the stock at the end.
//! Owns the run's lifecycle; rendering the result is the report's job.

mod failover;
mod faults;
mod fleet;
mod launch;
mod orders;
mod progress;
mod proxy;
mod readings;
mod script;
mod service;
mod tap;
mod target;

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::audit;
use crate::checker::Checker;
use crate::conn::Endpoint;
use crate::error::{root_cause, Error};
use crate::history::History;
use crate::judge::{self, Collected, Ended};
use crate::keys::Segments;
use crate::ledger::Ledger;
use crate::metrics::{Counters, Totals};
use crate::protocol::{FromWorker, ToWorker, WorkerPlan, PROTOCOL_VERSION};
use crate::record::{HarnessStall, HostRecord, RunRecord, SegmentRecord, WorkerRecord};
use crate::scenario::{Pace, Scenario, StrategyKind};
use crate::timeline::Timeline;
use crate::util::interrupt::Interrupt;
use faults::{FaultContext, Faults};
use fleet::{Event, Fleet};
use progress::Progress;
use proxy::Proxy;
use readings::Readings;
use service::Services;
use target::Placement;
pub use target::Target;

/// Runs a scenario to its end on `target`. `interrupt` firing stops the
/// workers early; the run is still audited.
///
/// # Errors
/// [`Error::Environment`] when Redis, a worker or the system fails;
/// [`Error::Interrupted`] when interrupted before the load started.
pub async fn run(
    scenario: &Scenario,
    run_id: &str,
    target: &mut Target,
    interrupt: Interrupt,
    quiet: bool,
) -> Result<RunRecord, Error> {
    let (segments, placement) = target
        .segments(&scenario.redis.key_prefix, run_id, &scenario.stock)
        .await?;
    let loaded = match &scenario.script {
        Some(script) => script::load(target, script).await?,
        None => script::Loaded::default(),
    };
    if let Err(e) = set_up(scenario, target, &segments, &placement).await {
        script::unload(target, &loaded).await;
        return Err(e.into());
    }
    script::warn_flushes(scenario, target);
    let before = target.identity().await;
    let result = drive(scenario, run_id, target, &segments, interrupt, quiet).await;
    let busy = match &scenario.script {
        Some(_) => script::stop_busy(target, &loaded).await,
        None => None,
    };
    let final_stocks = match target.settle(scenario).await {
        Ok(()) => target.stocks(&segments).await,
        Err(e) => Err(e),
    };
    let deleted = match &final_stocks {
        Ok(stocks) if stocks.iter().any(Option::is_none) => {
            kept_running(before, target.identity().await)
        }
        _ => false,
    };
    let inspected = inspect(scenario, target, &segments).await;
    let by_id = result.as_ref().is_ok_and(|c| c.history.is_some()) && orders::by_id(scenario);
    let stored_orders = match by_id {
        true => Some(
            orders::stored(target, scenario, &segments)
                .await
                .map_err(|e| root_cause(&e)),
        ),
        false => None,
    };
    let mut keys_left = target.cleanup(&segments).await;
    keys_left.extend(script::cleanup_keys(target, scenario, &segments, &placement).await);
    keys_left.extend(script::unload(target, &loaded).await);
    let collected = result?;
    let ended = Ended {
        segments: segment_records(&segments, placement, final_stocks.as_deref().ok()),
        final_stock: final_stocks.map(|stocks| target::total(&stocks)),
        keys_left,
        ledgers: inspected,
        stored_orders,
        library: loaded.library,
        busy,
        deleted,
        server: target.server.clone(),
    };
    Ok(judge::judge(
        scenario,
        run_id,
        &target.description,
        collected,
        ended,
    ))
}

/// The stock, then the script's declared keys. A key that already exists
/// is refused and left alone; after any other failure what was made is
/// deleted.
async fn set_up(
    scenario: &Scenario,
    target: &mut Target,
    segments: &Segments,
    placement: &[Placement],
) -> anyhow::Result<()> {
    target.prepare(segments).await?;
    if let Err(e) = script::check_absent(target, scenario, segments).await {
        target.cleanup(segments).await;
        return Err(e);
    }
    if let Err(e) = script::create_streams(target, scenario, segments).await {
        target.cleanup(segments).await;
        script::cleanup_keys(target, scenario, segments, placement).await;
        return Err(e);
    }
    Ok(())
}

/// The declared keys and the orders at the end, before they are deleted.
async fn inspect(
    scenario: &Scenario,
    target: &mut Target,
    segments: &Segments,
) -> audit::LedgerFacts {
    let keys = script::inspect_keys(target, scenario, segments).await;
    let orders = match script::inspect_orders(target, scenario, segments).await {
        Ok(orders) => orders,
        Err(e) => scenario.audit.orders.as_ref().map(|t| audit::OrderFacts {
            key: t.text.clone(),
            count: Err(format!("could not be read: {}", root_cause(&e))),
            sales: 0,
            in_doubt: 0,
            per_buyer: None,
            unknown: None,
        }),
    };
    audit::LedgerFacts {
        buyers: None,
        orders,
        keys: keys.unwrap_or_default(),
        unchecked: None,
    }
}

/// The same server process answered before and after the load: no
/// restart happened, declared or not.
fn kept_running(before: Option<target::Identity>, after: Option<target::Identity>) -> bool {
    matches!((before, after), (Some(b), Some(a)) if b.run_id == a.run_id && a.uptime_s >= b.uptime_s)
}

fn segment_records(
    segments: &Segments,
    placement: Vec<Placement>,
    finals: Option<&[Option<i64>]>,
) -> Vec<SegmentRecord> {
    let keys = segments.keys.iter().zip(&segments.initial).zip(placement);
    keys.enumerate()
        .map(|(i, ((keys, &initial), place))| SegmentRecord {
            stock_key: keys.stock.clone(),
            slot: place.slot,
            node: place.node,
            initial,
            final_stock: finals.and_then(|f| f[i]),
        })
        .collect()
}

async fn drive(
    scenario: &Scenario,
    run_id: &str,
    target: &mut Target,
    segments: &Segments,
    mut interrupt: Interrupt,
    quiet: bool,
) -> anyhow::Result<Collected> {
    let direct = target.direct_url();
    let needs_proxy = scenario.faults.iter().any(|f| f.action.needs_proxy());
    let proxy = match (needs_proxy && scenario.service.is_none(), direct) {
        (true, Some(url)) => Some(Proxy::start(upstream(url)?, None).await?),
        _ => None,
    };
    let mut services = match &scenario.service {
        Some(settings) => tokio::select! {
            started = start_services(scenario, settings, direct, segments) => Some(started?),
            () = interrupt.wait() => return Err(Error::Interrupted.into()),
        },
        None => None,
    };
    let instances = services.as_ref().map(Services::urls).unwrap_or_default();
    if let Some(http) = scenario.http.as_ref().filter(|_| scenario.hosts.is_none()) {
        listening(http).await?;
    }
    let endpoint = match (&proxy, direct) {
        (Some(proxy), Some(url)) => target.endpoint().with_url(via_proxy(url, proxy.port())?),
        _ => target.endpoint().clone(),
    };
    let plans = plans(
        scenario,
        &endpoint,
        target.lock_urls(),
        segments,
        &instances,
    );
    let hashes: Vec<u64> = plans.iter().map(WorkerPlan::hash).collect();
    // Opened before the load: once it runs, a script may keep Redis busy.
    // Without it the history has no readings, and says so.
    let reader = match scenario.audit.history {
        true => target.stock_reader().await.ok(),
        false => None,
    };
    let mut fleet = tokio::select! {
        fleet = Fleet::spawn(plans, run_id, scenario.hosts.as_ref()) => fleet?,
        () = interrupt.wait() => return Err(Error::Interrupted.into()),
    };
    tokio::select! {
        ready = fleet.await_ready(&hashes) => ready?,
        () = interrupt.wait() => return Err(Error::Interrupted.into()),
    }
    fleet.ping().await;
    let origin_ns = crate::hold::monotonic_ns();
    fleet.go().await;
    let cpu_at_go = crate::util::process::cpu_seconds(libc::RUSAGE_SELF);
    let started_at = SystemTime::now();
    let started = Instant::now();
    // Holds carry no segment: with several, each segment's lock would be
    // compared with the others' (the report says the checker did not run).
    // One checker per host: only its workers share a clock.
    let one_lock = scenario.strategy.kind.takes_lock() && segments.len() == 1;
    let checkers = one_lock.then(|| {
        let ttl = scenario.strategy.lock.ttl;
        let checker = |h: &fleet::HostInfo| {
            let workers = h.workers.start as usize..h.workers.end as usize;
            Checker::new(ttl, h.monotonic_at_go.unwrap_or(0), workers)
        };
        fleet.hosts.iter().map(checker).collect()
    });
    let clients = scenario.load.connections_per_process();
    let mut collector = Collector::new(&fleet, started, checkers, clients);
    collector.flush = scenario.report.flush();
    collector.timeline = Timeline::new(scenario.report.interval, scenario.report.adaptive);
    collector.ledger = scenario
        .buyers
        .count
        .filter(|_| scenario.audit.per_buyer_limit.is_some())
        .map(|n| Ledger::new(n.get(), segments.len()));
    collector.instance_load = vec![Vec::new(); fleet.len()];
    collector.history = scenario
        .audit
        .history
        .then(|| new_history(scenario, &fleet, origin_ns));
    let mut progress = Progress::new(scenario, quiet);
    let mut faults = Faults::new(scenario, fleet.len(), started, run_id);
    let readings = reader
        .map(|reader| Readings::start(reader, segments.clone(), scenario.audit.sample_interval));
    let interrupted = collector
        .collect(
            &mut fleet,
            &mut Watch {
                target,
                segments,
                interrupt: &mut interrupt,
                progress: &mut progress,
                faults: &mut faults,
                proxy: proxy.as_ref(),
                hosts: scenario.hosts.as_ref(),
                services: services.as_mut(),
            },
        )
        .await;
    let coordinator_cpu_s = crate::util::process::cpu_seconds(libc::RUSAGE_SELF) - cpu_at_go;
    if let (Some(readings), Some(history)) = (readings, collector.history.as_mut()) {
        for (sent, answered, units) in readings.finish().await {
            history.reading(sent, answered, units);
        }
    }
    progress.finish();
    // The load's length: what the instances do once it ended is not in it.
    let duration = collector.started.elapsed();
    if let Some(services) = services.as_mut() {
        let cut = matches!(interrupted, Ok(true)) || interrupted.is_err();
        faults.settle_instances(services, cut, &mut interrupt).await;
    }
    let sold = collector.totals.counters.sold_units;
    faults.finish_run(
        &fleet,
        services.as_mut(),
        sold,
        matches!(interrupted, Ok(true)),
    );
    let interrupted = interrupted?;
    let hosts = host_records(&fleet, &collector);
    fleet.reap().await;
    // Before the audit reads the stock: a request the load gave up on may
    // still be running in an instance.
    let service_logs = match &mut services {
        Some(services) => {
            services.stop_all().await;
            services.logs()
        }
        None => Vec::new(),
    };
    Ok(Collected {
        totals: collector.totals,
        workers: collector.workers,
        hosts,
        aborted_for_host_loss: collector.aborted_for_host_loss,
        coordinator_cpu_s,
        harness_stalls: collector.stalls.clone(),
        duration,
        interrupted,
        started_at,
        timeline: collector.timeline,
        not_taken: faults.not_taken(),
        faults: faults.log,
        killed_in_flight: faults.killed_in_flight,
        reset: faults.reset,
        failover_at: faults.failover_at,
        checkers: collector.checkers,
        ledger: collector.ledger,
        history: collector.history,
        gone_workers: faults
            .killed
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| i as u32)
            .collect(),
        service_lost: collector.service_lost,
        service_logs,
    })
}

/// The run's history, on this machine's clock: a local fleet shares it;
/// a remote host's instants are placed by its clock at `Go`, within the
/// time `Go` took to reach it.
fn new_history(scenario: &Scenario, fleet: &Fleet, origin_ns: u64) -> History {
    let hosts = fleet
        .hosts
        .iter()
        .map(|h| match scenario.hosts {
            None => (Some(origin_ns), 0),
            Some(_) => (
                h.monotonic_at_go,
                h.go_rtt.map_or(i64::MAX / 4, |d| d.as_nanos() as i64),
            ),
        })
        .collect();
    let reply_ids = scenario.http.as_ref().is_some_and(|h| h.order_id.is_some());
    History::new(
        origin_ns,
        hosts,
        scenario.load.connections_per_process(),
        reply_ids,
    )
}

/// The user's own running service (a fixed URL) accepts a connection from
/// here before any load starts: a typo'd port exits 4 at once, not after
/// a run of refused purchases. (With `[hosts]`, only the load hosts may
/// reach it.)
async fn listening(http: &crate::scenario::HttpSettings) -> anyhow::Result<()> {
    let Some(authority) = http.fixed_authority().filter(|_| !http.to_instances()) else {
        return Ok(());
    };
    let connect = tokio::net::TcpStream::connect(authority.as_str());
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("your service at {authority} (strategy.url) refused a connection: {e}; start it, or fix the URL"),
        Err(_) => anyhow::bail!("your service at {authority} (strategy.url) did not accept a connection within 5 s; start it, or fix the URL"),
    }
}

/// Starts the `[service]` instances on the run's Redis (standalone: the
/// embedded server or the user's), each through a proxy of its own when a
/// fault needs to delay, cut or watch its commands.
async fn start_services(
    scenario: &Scenario,
    settings: &crate::scenario::ServiceSettings,
    direct: Option<&str>,
    segments: &Segments,
) -> anyhow::Result<Services> {
    let url = direct.context("a [service] needs a standalone Redis with one URL")?;
    let keys = &segments.keys[0];
    let vars = service::Vars {
        stock: keys.stock.clone(),
        lock: keys.lock.clone(),
        run: keys.run().to_owned(),
        redis_url: url.to_owned(),
        secrets: url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
            .map(|raw| {
                let decoded = url::form_urlencoded::parse(format!("p={raw}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
                [Some(raw), decoded].into_iter().flatten().collect()
            })
            .unwrap_or_default(),
    };
    let watch = scenario.faults.iter().any(|f| {
        matches!(
            f.action,
            crate::scenario::FaultAction::Pause {
                target: crate::scenario::FaultTarget::LockHolder,
                ..
            } | crate::scenario::FaultAction::Kill {
                target: crate::scenario::FaultTarget::LockHolder,
            }
        )
    });
    let proxied = watch || scenario.faults.iter().any(|f| f.action.needs_proxy());
    let upstream = upstream(url)?;
    let through = proxied.then_some((upstream.as_str(), url));
    Services::start(settings, &vars, through, watch).await
}

/// `hosts.csv`'s rows: what the fleet measured and the workers reported.
fn host_records(fleet: &Fleet, collector: &Collector) -> Vec<HostRecord> {
    fleet
        .hosts
        .iter()
        .enumerate()
        .map(|(h, host)| {
            let workers = host.workers.start as usize..host.workers.end as usize;
            HostRecord {
                name: host.name.clone(),
                processes: host.workers.len() as u32,
                go_rtt_us: host.go_rtt.map(|d| d.as_micros() as u64),
                clock_offset_us: host.clock_offset_us,
                cpu_s: collector.workers[workers]
                    .iter()
                    .filter_map(|w| w.cpu_s)
                    .sum(),
                shipped: host.shipped,
                lost: collector.lost_hosts.contains(&h),
            }
        })
        .collect()
}

/// `host:port` of a Redis URL, for the proxy to connect to.
fn upstream(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url)?;
    let host = parsed.host_str().context("the Redis URL has no host")?;
    Ok(format!("{host}:{}", parsed.port().unwrap_or(6379)))
}

/// The same URL (credentials, database) through the proxy's port.
fn via_proxy(url: &str, port: u16) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url)?;
    parsed.set_host(Some("127.0.0.1"))?;
    let _ = parsed.set_port(Some(port));
    Ok(parsed.to_string())
}

fn plans(
    scenario: &Scenario,
    endpoint: &Endpoint,
    lock_urls: &[String],
    segments: &Segments,
    instances: &[String],
) -> Vec<WorkerPlan> {
    let lock_urls = match scenario.strategy.kind {
        StrategyKind::Redlock => lock_urls.to_vec(),
        _ => Vec::new(),
    };
    (0..scenario.load.processes.get())
        .map(|worker_index| WorkerPlan {
            protocol_version: PROTOCOL_VERSION,
            worker_index,
            endpoint: endpoint.clone(),
            rediscover: scenario.redis.rediscover,
            lock_urls: lock_urls.clone(),
            segments: segments.keys.clone(),
            segment_pick: scenario.stock.segment_pick,
            segment_fallback: scenario.stock.segment_fallback,
            clients: scenario.load.connections_per_process(),
            quantity: scenario.stock.quantity.get(),
            stop: scenario.load.stop,
            pace: worker_pace(&scenario.load.pace, scenario.load.processes.get()),
            arrival_phase: f64::from(worker_index) / f64::from(scenario.load.processes.get()),
            strategy: scenario.strategy,
            script: scenario.script.clone(),
            http: scenario.http.clone(),
            instances: instances.to_vec(),
            buyers: scenario.buyers,
            total_clients: scenario.load.total_clients(),
            ledger: scenario.audit.per_buyer_limit.is_some(),
            history: scenario.audit.history,
            history_ids: orders::by_id(scenario),
            connections: scenario.load.connections,
            flush_interval: scenario.report.flush(),
            response_timeout: scenario.redis.timeout,
        })
        .collect()
}

/// One worker's share: the rate and the in-flight cap split evenly.
fn worker_pace(pace: &Pace, processes: u32) -> Pace {
    match pace {
        Pace::Closed { .. } => pace.clone(),
        Pace::Open {
            rate,
            arrivals,
            max_in_flight,
        } => Pace::Open {
            rate: rate.scaled(1.0 / f64::from(processes)),
            arrivals: *arrivals,
            max_in_flight: max_in_flight.div_ceil(processes),
        },
    }
}

/// What the collector watches besides the workers.
struct Watch<'a> {
    target: &'a mut Target,
    segments: &'a Segments,
    interrupt: &'a mut Interrupt,
    progress: &'a mut Progress,
    faults: &'a mut Faults,
    proxy: Option<&'a Proxy>,
    hosts: Option<&'a crate::scenario::HostsSettings>,
    services: Option<&'a mut Services>,
}

/// Merges the workers' batches as they arrive, into the totals, the
/// per-worker counts and the timeline.
struct Collector {
    started: Instant,
    totals: Totals,
    workers: Vec<WorkerRecord>,
    done: Vec<bool>,
    timeline: Timeline,
    stock: Option<i64>,
    checkers: Option<Vec<Checker>>,
    /// Per worker: its host, and so its checker.
    host_of: Vec<usize>,
    ledger: Option<Ledger>,
    /// Hosts lost mid-run, in the order they were.
    lost_hosts: Vec<usize>,
    aborted_for_host_loss: bool,
    /// Per worker: when it last said anything, for the watchdog.
    heard: Vec<Instant>,
    /// The watchdog's last tick: a long gap since is the coordinator's own.
    last_tick: Instant,
    stalls: Vec<HarnessStall>,
    /// Clients per worker: what may be in doubt in a worker given up on.
    clients: u32,
    /// Per worker: the most purchases one of its batches reported, what
    /// it may have finished and not yet reported when it dies.
    largest_batch: Vec<u64>,
    /// How often workers ship metrics.
    flush: Duration,
    /// `[service]`: per worker, its purchases under way per instance.
    instance_load: Vec<Vec<u32>>,
    /// `audit.history`: every purchase, and the stock's readings.
    history: Option<History>,
    /// Every `[service]` instance exited by itself: why the load stopped.
    service_lost: Option<String>,
}

/// How long a worker may stay silent (no batch, no heartbeat) outside a
/// declared pause before it is reported and killed.
/// A gap between watchdog ticks (250 ms apart) that only the coordinator
/// not running explains.
const HARNESS_STALL: Duration = Duration::from_secs(1);

fn watchdog_limit(flush: Duration) -> Duration {
    (3 * flush).max(Duration::from_secs(2))
}

impl Collector {
    fn new(
        fleet: &Fleet,
        started: Instant,
        checkers: Option<Vec<Checker>>,
        clients: u32,
    ) -> Collector {
        let pids = &fleet.pids;
        let workers = pids
            .iter()
            .enumerate()
            .map(|(index, &pid)| WorkerRecord {
                index,
                pid,
                host: fleet.hosts[fleet.host_of[index]].name.clone(),
                counters: Counters::default(),
                cpu_s: None,
            })
            .collect();
        Collector {
            started,
            totals: Totals::default(),
            workers,
            done: vec![false; pids.len()],
            timeline: Timeline::new(Duration::from_secs(1), false),
            stock: None,
            checkers,
            host_of: fleet.host_of.clone(),
            ledger: None,
            lost_hosts: Vec::new(),
            aborted_for_host_loss: false,
            heard: vec![started; pids.len()],
            last_tick: started,
            stalls: Vec::new(),
            clients,
            largest_batch: vec![0; pids.len()],
            flush: Duration::ZERO,
            instance_load: Vec::new(),
            history: None,
            service_lost: None,
        }
    }

    /// Runs until every worker is done; returns whether it was interrupted.
    async fn collect(&mut self, fleet: &mut Fleet, watch: &mut Watch<'_>) -> anyhow::Result<bool> {
        let mut signals = 0;
        let ticks = |every: Duration, from: Instant| {
            let mut ticks = tokio::time::interval_at((from + every).into(), every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        };
        let mut row_length = self.timeline.interval();
        let mut interval = ticks(row_length, self.started);
        let every = watch.progress.every();
        let mut redraw = tokio::time::interval_at((self.started + every).into(), every);
        let mut watchdog = tokio::time::interval(Duration::from_millis(250));
        while self.done.iter().any(|d| !d) {
            let fault_due = watch.faults.next_due();
            tokio::select! {
                // Workers' messages first: the watchdog must never judge a
                // worker whose heartbeat is waiting in the queue.
                biased;
                event = fleet.next() => {
                    let (index, event) = event.context("every worker pipe closed")?;
                    self.heard[index] = Instant::now();
                    self.handle(index, event, fleet, watch).await?;
                    self.fire_faults(fleet, watch).await?;
                }
                () = sleep_until(fault_due), if fault_due.is_some() => {
                    self.fire_faults(fleet, watch).await?;
                }
                _ = interval.tick() => {
                    self.close_interval(watch).await?;
                    // An adaptive timeline doubled its interval.
                    if self.timeline.interval() != row_length {
                        row_length = self.timeline.interval();
                        interval = ticks(row_length, Instant::now());
                    }
                }
                _ = redraw.tick() => watch.progress.update(&self.totals.counters, self.stock),
                _ = watchdog.tick() => {
                    self.note_stall();
                    self.watch_instances(fleet, watch).await;
                    self.give_up_on_silent(fleet, watch.faults);
                    fleet.cut_stuck_hosts(&self.done);
                }
                caught = next_caught(&mut watch.services) => {
                    if let (Some(caught), Some(services)) = (caught, watch.services.as_deref_mut()) {
                        watch.faults.caught(caught, services, &self.instance_totals()).await;
                    }
                }
                () = watch.interrupt.wait_for(signals + 1), if signals < 2 => {
                    signals += 1;
                    let services = watch.services.as_deref_mut();
                    self.interrupted(signals, fleet, watch.faults, services).await;
                }
            }
        }
        self.close_interval(watch).await?;
        Ok(signals > 0)
    }

    /// The first signal stops the workers after their current purchase
    /// (paused ones are resumed to do so); the second kills them at once.
    async fn interrupted(
        &mut self,
        signals: u32,
        fleet: &mut Fleet,
        faults: &mut Faults,
        services: Option<&mut Services>,
    ) {
        if signals == 1 {
            eprintln!("interrupted: stopping the workers (they finish their current purchase; Ctrl-C again to stop at once)");
            faults.resume_all_now(fleet);
            faults.resume_instances(services);
            fleet.broadcast(&ToWorker::Stop).await;
        } else {
            eprintln!(
                "interrupted again: killing the workers; the reports cover what they shipped"
            );
            self.give_up_on_all(fleet, faults, "a second interrupt");
        }
    }

    /// Instances that exited by themselves are logged; once none is left
    /// (and no restart is to bring one back) the load stops: it would
    /// reach nothing, and the run says so.
    async fn watch_instances(&mut self, fleet: &mut Fleet, watch: &mut Watch<'_>) {
        let Some(services) = watch.services.as_deref_mut() else {
            return;
        };
        let exited = services.exited_by_themselves();
        for (index, status) in &exited {
            let what = format!(
                "service instance {index} exited by itself ({status}) at {:.1} s; requests under way on it are in doubt, and the load goes to the other instances (see service-{index}.log)",
                self.started.elapsed().as_secs_f64()
            );
            eprintln!("{what}");
            watch.faults.harness(what);
        }
        if exited.is_empty() || services.alive() > 0 || watch.faults.restarting() {
            return;
        }
        let what = format!(
            "every service instance had exited by itself by {:.1} s: the load stopped there, and the rest of the run tested nothing",
            self.started.elapsed().as_secs_f64()
        );
        eprintln!("{what}");
        watch.faults.harness(what.clone());
        self.service_lost = Some(what);
        fleet.broadcast(&ToWorker::Stop).await;
    }

    /// The watchdog ticks every 250 ms; a gap of over a second since its
    /// last tick means the coordinator itself did not run that long.
    fn note_stall(&mut self) {
        let now = Instant::now();
        let gap = now.duration_since(self.last_tick);
        if gap > HARNESS_STALL {
            let at = self.last_tick.saturating_duration_since(self.started);
            eprintln!(
                "the harness itself did not run for {:.1} s (from {:.1} s): stopped from outside, or starved of CPU",
                gap.as_secs_f64(),
                at.as_secs_f64()
            );
            self.stalls.push(HarnessStall { at, lasted: gap });
        }
        self.last_tick = now;
    }

    /// The watchdog: a worker silent for longer than [`watchdog_limit`]
    /// outside a declared pause is stuck (stopped from outside, or hung);
    /// it is killed and the run goes on as for a killed worker.
    fn give_up_on_silent(&mut self, fleet: &Fleet, faults: &mut Faults) {
        let limit = watchdog_limit(self.flush);
        for index in 0..self.done.len() {
            if self.done[index] || faults.killed[index] {
                continue;
            }
            if fleet.has_unread(index) {
                self.heard[index] = Instant::now();
            }
            let silent = self.heard[index].elapsed();
            if silent <= limit || faults.excused(index, limit) {
                continue;
            }
            let why = format!("it sent nothing for {:.1} s", silent.as_secs_f64());
            eprintln!(
                "watchdog: worker {index} ({}) {why}; killing it",
                fleet.who(index)
            );
            faults.give_up_on(index, self.unsure(index), &why, fleet);
        }
    }

    /// Kills every worker still running; each is finished when its pipe
    /// closes, after what it shipped before dying was read.
    fn give_up_on_all(&mut self, fleet: &Fleet, faults: &mut Faults, why: &str) {
        for index in 0..self.done.len() {
            if !self.done[index] && !faults.killed[index] {
                faults.give_up_on(index, self.unsure(index), why, fleet);
            }
        }
    }

    /// Fires the faults that are due. A fault may take seconds (a restart's
    /// downtime, a failover): the watchdog's clock restarts after it, so
    /// that wait is not taken for the coordinator's own stall.
    async fn fire_faults(
        &mut self,
        fleet: &mut Fleet,
        watch: &mut Watch<'_>,
    ) -> anyhow::Result<()> {
        let before = Instant::now();
        let fired = self.fire_due_faults(fleet, watch).await;
        if before.elapsed() > HARNESS_STALL / 4 {
            self.last_tick = Instant::now();
        }
        fired
    }

    async fn fire_due_faults(
        &mut self,
        fleet: &mut Fleet,
        watch: &mut Watch<'_>,
    ) -> anyhow::Result<()> {
        let instance_load = self.instance_totals();
        let mut ctx = FaultContext {
            fleet,
            target: watch.target,
            segments: watch.segments,
            proxy: watch.proxy,
            interrupt: watch.interrupt,
            services: watch.services.as_deref_mut(),
            instance_load,
        };
        watch
            .faults
            .fire_due(self.totals.counters.sold_units, &mut ctx)
            .await
    }

    /// Ends the current timeline interval with the stock Redis reports now.
    async fn close_interval(&mut self, watch: &mut Watch<'_>) -> anyhow::Result<()> {
        // Bounded: during a failover the control connection may retry for
        // seconds, and the collector must go on reading its workers.
        let read = watch.target.stock(watch.segments);
        self.stock = tokio::time::timeout(Duration::from_millis(250), read)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let totals = &mut self.totals.histograms;
        self.timeline
            .close(self.started.elapsed(), self.stock, totals)
    }

    async fn handle(
        &mut self,
        index: usize,
        event: Event,
        fleet: &mut Fleet,
        watch: &mut Watch<'_>,
    ) -> anyhow::Result<()> {
        match event {
            Event::Message(FromWorker::Frozen { fault, in_flight }) => {
                watch.faults.frozen(index, fault, in_flight, fleet).await;
                if watch.faults.killed[index] {
                    self.finished(index);
                }
            }
            Event::Closed if watch.faults.killed[index] => self.finished(index),
            Event::Message(FromWorker::Batch { batch }) => {
                // Histograms are merged once, into the interval's; the
                // interval's go into the totals when it closes.
                self.totals.counters.add(&batch.counters);
                self.timeline.add(&batch)?;
                self.workers[index].counters.add(&batch.counters);
                let reported = &mut self.largest_batch[index];
                *reported = (*reported).max(batch.counters.attempts);
                if let Some(checker) = self.checker(index) {
                    checker.add(index, &batch.holds, batch.watermark_ns);
                }
                if let Some(ledger) = &mut self.ledger {
                    ledger.add(&batch.buyers, &batch.buyer_segments)?;
                }
                if !batch.instances_in_flight.is_empty() {
                    self.instance_load[index] = batch.instances_in_flight;
                }
                if let Some(history) = &mut self.history {
                    history.add(index as u32, self.host_of[index], batch.ops);
                    if let Some(span) = batch.sales_span {
                        history.add_span(self.host_of[index], span);
                    }
                }
            }
            Event::Message(FromWorker::Done { cpu_s }) => {
                self.workers[index].cpu_s = Some(cpu_s);
                self.finished(index);
            }
            Event::HostLost { why } => self.host_lost(index, why, fleet, watch).await,
            Event::Message(FromWorker::Heartbeat { watermark_ns }) => {
                if let Some(checker) = self.checker(index) {
                    checker.add(index, &[], watermark_ns);
                }
            }
            // Given up on: what it shipped still counted above, the rest
            // (a half line, a late Done) means nothing now.
            _ if watch.faults.killed[index] => {}
            Event::Closed if self.done[index] => {}
            other => return Err(fleet.unexpected(index, other)),
        }
        Ok(())
    }
}

impl Collector {
    /// What may be in doubt in worker `index` given up on: a purchase of
    /// each client under way, and what it may have finished since its last
    /// batch.
    fn unsure(&self, index: usize) -> (u32, u64) {
        (self.clients, self.largest_batch[index])
    }

    /// The worker will report nothing more.
    fn finished(&mut self, index: usize) {
        self.done[index] = true;
        if let Some(checker) = self.checker(index) {
            checker.finished(index);
        }
    }

    /// The checker of the worker's host.
    fn checker(&mut self, index: usize) -> Option<&mut Checker> {
        let host = self.host_of[index];
        self.checkers.as_mut().and_then(|c| c.get_mut(host))
    }

    /// A worker's host was lost: it is given up on, as a killed worker (its
    /// purchases under way are in doubt). The first of the host's workers
    /// to say so logs the loss and, with `on_host_loss = "abort"`, stops
    /// the run.
    async fn host_lost(
        &mut self,
        index: usize,
        why: Option<String>,
        fleet: &mut Fleet,
        watch: &mut Watch<'_>,
    ) {
        if self.done[index] {
            return;
        }
        let host = self.host_of[index];
        let info = &fleet.hosts[host];
        let running = info
            .workers
            .clone()
            .filter(|&w| !self.done[w as usize])
            .count();
        watch.faults.lost(index, self.unsure(index));
        self.finished(index);
        if self.lost_hosts.contains(&host) {
            return;
        }
        self.lost_hosts.push(host);
        let abort = watch
            .hosts
            .is_some_and(|h| h.on_host_loss == crate::scenario::HostLoss::Abort);
        let said = why
            .map(|w| format!(" (its agent said: {w})"))
            .unwrap_or_default();
        let then = match abort {
            true => "the run stops (on_host_loss = \"abort\")",
            false => "the run goes on without it (on_host_loss = \"continue\")",
        };
        let what = format!(
            "host {} lost{said}: its launcher's pipe closed with {running} worker(s) running; up to {} purchase(s) under way, and what they had finished but not yet reported, are in doubt; {then}",
            info.name,
            running as u64 * u64::from(self.clients),
        );
        eprintln!("{what}");
        watch.faults.harness(what);
        if abort && !self.aborted_for_host_loss {
            self.aborted_for_host_loss = true;
            watch.faults.resume_all_now(fleet);
            fleet.broadcast(&ToWorker::Stop).await;
        }
    }
}

impl Collector {
    /// Purchases under way per instance over every worker, as last
    /// reported.
    fn instance_totals(&self) -> Vec<u32> {
        let mut totals: Vec<u32> = Vec::new();
        for worker in &self.instance_load {
            if totals.len() < worker.len() {
                totals.resize(worker.len(), 0);
            }
            for (t, n) in totals.iter_mut().zip(worker) {
                *t += n;
            }
        }
        totals
    }
}

/// The next instance the lock-holder watch caught; never, without one.
async fn next_caught(services: &mut Option<&mut Services>) -> Option<tap::Caught> {
    match services.as_deref_mut().and_then(|s| s.taps.as_mut()) {
        Some(taps) => taps.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
