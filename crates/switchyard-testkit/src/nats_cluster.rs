//! A private NATS cluster: three `nats-server -js` processes joined by routes, JetStream
//! clustered (each server its own name, one meta group), each with a monitoring port that
//! tells when the cluster has elected its JetStream leader.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::free_port;
use crate::server::{NatsServer, StartFailure};

/// Servers in the cluster.
pub const NATS_CLUSTER_SIZE: usize = 3;

/// How long a cluster may take to agree on its JetStream leader.
const LEADER_WAIT: Duration = Duration::from_secs(60);

/// Three clustered `nats-server -js` on free ports, stopped on drop.
pub struct NatsCluster {
    servers: Vec<NatsServer>,
    monitors: Vec<u16>,
}

impl NatsCluster {
    /// Starts the three servers and waits (up to 60 s) until JetStream has a leader. The
    /// ports are free when chosen, but another test may take one before a server binds it:
    /// a cluster that fails to start for that reason, or agrees on no leader in time, is
    /// started again on other ports.
    pub fn start() -> Self {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            let cluster = match Self::start_once() {
                Ok(cluster) => cluster,
                Err(failure) if failure.port_taken() && !last => {
                    eprintln!("a NATS cluster port was taken; starting it again on other ports");
                    continue;
                }
                Err(failure) => panic!("the NATS cluster did not start: {failure}"),
            };
            match cluster.leader_within(LEADER_WAIT) {
                Ok(()) => return cluster,
                Err(answers) if !last => eprintln!(
                    "the NATS cluster elected no JetStream leader within {LEADER_WAIT:?} (monitor answers: {answers:?}); starting it again on other ports"
                ),
                Err(answers) => panic!(
                    "the NATS cluster elected no JetStream leader within {LEADER_WAIT:?} (monitor answers: {answers:?})"
                ),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One try: the servers started together on fresh ports; the first failure if one did
    /// not start (the others are stopped).
    fn start_once() -> Result<Self, StartFailure> {
        let routes: Vec<u16> = (0..NATS_CLUSTER_SIZE).map(|_| free_port()).collect();
        let monitors: Vec<u16> = (0..NATS_CLUSTER_SIZE).map(|_| free_port()).collect();
        let configs: Vec<String> = (0..NATS_CLUSTER_SIZE)
            .map(|i| {
                // the others' routes (its own would be a duplicate of `listen`)
                let route_list: Vec<String> = (routes.iter().enumerate())
                    .filter(|&(j, _)| j != i)
                    .map(|(_, p)| format!("\"nats-route://127.0.0.1:{p}\""))
                    .collect();
                format!(
                    "server_name: n{i}\nhttp: 127.0.0.1:{}\ncluster {{\n  name: switchyard-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    monitors[i],
                    routes[i],
                    route_list.join(", ")
                )
            })
            .collect();
        // started together: each waits for the others' routes
        let started: Vec<Result<NatsServer, StartFailure>> = std::thread::scope(|scope| {
            let starting: Vec<_> = configs
                .iter()
                .map(|config| scope.spawn(move || NatsServer::try_start_with(config)))
                .collect();
            starting
                .into_iter()
                .map(|s| s.join().expect("a cluster server's start does not panic"))
                .collect()
        });
        // dropping the servers that did start stops them
        let servers = started.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(NatsCluster { servers, monitors })
    }

    /// Every server, for clients: `nats://127.0.0.1:A,nats://127.0.0.1:B,nats://127.0.0.1:C`.
    pub fn url(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Server `i` (to stop, restart or kill it).
    pub fn server(&mut self, i: usize) -> &mut NatsServer {
        &mut self.servers[i]
    }

    /// Stops every server, then starts them all again on their ports and data, and waits
    /// for a leader: a whole-cluster restart.
    pub fn restart_all(&mut self) {
        for server in &mut self.servers {
            server.stop();
        }
        for server in &mut self.servers {
            server.restart();
        }
        self.wait_for_leader();
    }

    /// Waits until a running server names a JetStream meta leader, and every running
    /// server agrees which; panics after 60 s.
    pub fn wait_for_leader(&self) {
        if let Err(answers) = self.leader_within(LEADER_WAIT) {
            panic!(
                "the NATS cluster elected no JetStream leader within {LEADER_WAIT:?} (monitor answers: {answers:?})"
            );
        }
    }

    /// [`NatsCluster::wait_for_leader`] within `wait`; what each server's monitor answered
    /// last when they did not agree in time.
    fn leader_within(&self, wait: Duration) -> Result<(), Vec<Option<String>>> {
        let deadline = Instant::now() + wait;
        loop {
            let leaders: Vec<Option<String>> = self
                .servers
                .iter()
                .zip(&self.monitors)
                .filter(|(s, _)| s.running())
                .map(|(_, &m)| meta_leader(m))
                .collect();
            if let Some(Some(first)) = leaders.first()
                && leaders.iter().all(|l| l.as_deref() == Some(first.as_str()))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(leaders);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The JetStream meta leader a server's `/jsz` names, if any.
fn meta_leader(monitor: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", monitor)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /jsz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    let after = &body[body.find("\"meta_cluster\"")?..];
    let after = &after[after.find("\"leader\"")? + "\"leader\"".len()..];
    let start = after.find('"')? + 1;
    let len = after[start..].find('"')?;
    let leader = &after[start..start + len];
    (!leader.is_empty()).then(|| leader.to_owned())
}
