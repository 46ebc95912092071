//! Three Docker engines on this machine joined into one swarm: the test bed for what crosses
//! machines (a plugin on one node, its agent on another, a node that stops).
//!
//! Each node is a network namespace `nfmn<N>` with the address `10.99.0.<N>`, on a bridge
//! `nfmn0` in the machine's own namespace, running its own `dockerd` (own data root, exec root,
//! socket and managed containerd, `vfs` storage, which works on any filesystem for images this
//! small). Every process of a node (the engine, its containerd, shims and containers) sits in
//! one cgroup subtree `/nfmn<N>`, so stopping a node is killing that subtree: the machine
//! going away, with no goodbye to the swarm. Images come from the machine's engine by
//! `docker save` | `docker load`: no registry.
//!
//! Nothing is skipped: on a machine where this cannot run (not root, no `ip`, an engine that
//! will not start), [`Nodes::start`] fails with why. Everything it made is removed by
//! [`Nodes::teardown`] (also on drop), and first of all what an earlier, killed run left.
//!
//! Why each part of a node's start is there (`NODE_START`):
//! - `ip netns exec` mounts a fresh `/sys` for the namespace, which hides the cgroup v1
//!   hierarchies, and `dockerd` refuses to start without them: they are mounted again, in the
//!   node's private mount namespace (they vanish with it);
//! - its own hostname (`unshare --uts`): swarm constraints name nodes by hostname;
//! - its own `/run`: containerd's shims put sockets in a fixed `/run/containerd/s`;
//! - its own configuration file: the machine's `/etc/docker/daemon.json` belongs to the
//!   machine's engine, and so does `/etc/docker/key.json`, which would give all engines one id;
//! - `DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1`: a task uses the loaded image instead of asking a
//!   registry first (20 s of timeouts per task otherwise).
//!
//! The root namespace's `FORWARD` chain (policy `DROP` under Docker) gets two rules tagged
//! `nfmn`: nodes may talk to each other across the bridge, and nothing past it (which also
//! makes registry lookups fail at once).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;

use crate::swarm::Place;

/// How many nodes [`Nodes::start`] makes.
pub const NODE_COUNT: u8 = 3;
/// Where the nodes keep everything: engines' data, sockets, logs.
const ROOT: &str = "/tmp/nfmn";
/// The prefix of every namespace, interface and cgroup made here; also the iptables comment.
const PREFIX: &str = "nfmn";
/// How long an engine may take to answer after its start.
const ENGINE_START: Duration = Duration::from_secs(90);

/// Starts a node's engine inside its namespace: `sh NODE_START <n> <dir>`.
const NODE_START: &str = r#"set -e
N=$1; D=$2
hostname nfmn$N
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
grep -E '^[^ ]+ /sys/fs/cgroup/[^ ]+ cgroup2? ' /proc/1/mounts | while read src dst type opts rest; do
  mkdir -p "$dst"; mount -t "$type" -o "$opts" "$src" "$dst"
done
mount -t tmpfs -o mode=755 nfmn-run /run
mkdir -p /sys/fs/cgroup/pids/nfmn$N
echo $$ > /sys/fs/cgroup/pids/nfmn$N/cgroup.procs
mkdir -p $D/tmp
export TMPDIR=$D/tmp DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
exec dockerd --config-file $D/daemon.json --data-root $D/data --exec-root $D/exec \
  --pidfile $D/docker.pid -H unix://$D/docker.sock --storage-driver vfs \
  --cgroup-parent /nfmn$N --userland-proxy=false
"#;

/// Three engines in one swarm: node 1 the manager, nodes 2 and 3 workers.
pub struct Nodes {
    engines: Vec<Child>,
    torn_down: bool,
}

/// Runs `sh -c script`; its standard output, or why it failed.
pub fn sh(script: &str) -> Result<String, String> {
    let output = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{script}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        ))
    }
}

fn must(script: &str) -> String {
    sh(script).unwrap_or_else(|e| panic!("cannot set up the nodes: {e}"))
}

fn dir(n: u8) -> PathBuf {
    Path::new(ROOT).join(format!("n{n}"))
}

impl Nodes {
    /// The hostname of node `n`, as swarm constraints and `docker node ls` name it.
    pub fn hostname(n: u8) -> String {
        format!("{PREFIX}{n}")
    }

    /// Node `n`'s address on the bridge.
    pub fn address(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, n)
    }

    /// The socket of node `n`'s engine, as a `DOCKER_HOST` URL.
    pub fn socket_url(n: u8) -> String {
        format!("unix://{}", dir(n).join("docker.sock").display())
    }

    /// A client of node `n`'s engine.
    pub fn docker(n: u8) -> Docker {
        let socket = dir(n).join("docker.sock");
        Docker::connect_with_unix(&socket.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
            .unwrap_or_else(|e| panic!("a client of node {n}: {e}"))
    }

    /// Node `n` as a place to start containers: ports published on its address, which this
    /// test reaches across the bridge.
    pub fn place(n: u8) -> Place {
        Place {
            docker: Self::docker(n),
            socket: dir(n).join("docker.sock").to_string_lossy().into_owned(),
            publish_ip: Self::address(n).to_string(),
            reach_ip: IpAddr::V4(Self::address(n)),
        }
    }

    /// The `docker` command against node `n`: its output, or why it failed.
    pub fn cli(n: u8, args: &str) -> Result<String, String> {
        sh(&format!("docker -H {} {args}", Self::socket_url(n)))
    }

    /// Starts the nodes, loads `images` (tags on the machine's engine) into each, and joins
    /// them into one swarm. Fails with why when it cannot.
    pub async fn start(images: &[&str]) -> Self {
        let images: Vec<String> = images.iter().map(|s| (*s).to_owned()).collect();
        let started = Instant::now();
        let mut nodes = tokio::task::spawn_blocking(move || {
            let mut nodes = Self {
                engines: Vec::new(),
                torn_down: false,
            };
            nodes.start_blocking(&images);
            nodes
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        nodes.torn_down = false;
        eprintln!(
            "[nodes] {NODE_COUNT} engines up, images loaded, one swarm: {:.1?}",
            started.elapsed()
        );
        nodes
    }

    fn start_blocking(&mut self, images: &[String]) {
        let uid = must("id -u");
        assert_eq!(
            uid.trim(),
            "0",
            "the multi-node tests start engines in network namespaces, which needs root"
        );
        for tool in ["ip", "iptables", "dockerd", "unshare", "setsid", "docker"] {
            assert!(
                sh(&format!("command -v {tool}")).is_ok(),
                "the multi-node tests need `{tool}` on this machine"
            );
        }
        // What an earlier run, killed before its teardown, left.
        teardown_all();

        let t = Instant::now();
        must(&format!(
            "ip link add {PREFIX}0 type bridge && ip addr add 10.99.0.254/24 dev {PREFIX}0 \
             && ip link set {PREFIX}0 up"
        ));
        for n in 1..=NODE_COUNT {
            let ns = Self::hostname(n);
            must(&format!(
                "ip netns add {ns} && ip link add {ns} type veth peer name eth0 netns {ns} \
                 && ip link set {ns} master {PREFIX}0 up \
                 && ip -n {ns} addr add {addr}/24 dev eth0 && ip -n {ns} link set lo up \
                 && ip -n {ns} link set eth0 up && ip -n {ns} route add default via 10.99.0.254",
                addr = Self::address(n)
            ));
        }
        // Bridged frames pass the root namespace's FORWARD chain, whose policy Docker sets to
        // DROP: let the nodes talk to each other, and to nothing past the bridge.
        must(&format!(
            "iptables -I FORWARD 1 -i {PREFIX}0 -o {PREFIX}0 -m comment --comment {PREFIX} -j ACCEPT \
             && iptables -I FORWARD 2 -i {PREFIX}0 ! -o {PREFIX}0 -m comment --comment {PREFIX} -j REJECT"
        ));
        eprintln!("[nodes] network: {:.1?}", t.elapsed());

        let t = Instant::now();
        std::fs::create_dir_all(ROOT).expect("the nodes' directory");
        let script = Path::new(ROOT).join("node-start.sh");
        std::fs::write(&script, NODE_START).expect("the node start script");
        for n in 1..=NODE_COUNT {
            let dir = dir(n);
            std::fs::create_dir_all(dir.join("data")).expect("a node's directory");
            std::fs::create_dir_all(dir.join("exec")).expect("a node's directory");
            std::fs::write(
                dir.join("daemon.json"),
                format!(
                    "{{\"deprecated-key-path\": \"{}\"}}",
                    dir.join("key.json").display()
                ),
            )
            .expect("a node's configuration");
            let log = std::fs::File::create(dir.join("dockerd.log")).expect("a node's log");
            let child = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &Self::hostname(n),
                    "unshare",
                    "--uts",
                    "setsid",
                ])
                .arg("sh")
                .arg(&script)
                .arg(n.to_string())
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("the log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start node {n}'s engine: {e}"));
            self.engines.push(child);
        }
        for n in 1..=NODE_COUNT {
            let deadline = Instant::now() + ENGINE_START;
            while Self::cli(n, "info --format '{{.ID}}'").is_err() {
                if Instant::now() > deadline {
                    let log =
                        std::fs::read_to_string(dir(n).join("dockerd.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(20).collect();
                    panic!(
                        "node {n}'s engine did not answer within {} s; its last lines:\n{}",
                        ENGINE_START.as_secs(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        eprintln!("[nodes] engines answer: {:.1?}", t.elapsed());

        let t = Instant::now();
        let archive = Path::new(ROOT).join("images.tar");
        must(&format!(
            "docker save -o {} {}",
            archive.display(),
            images.join(" ")
        ));
        for n in 1..=NODE_COUNT {
            Self::cli(n, &format!("load -q -i {}", archive.display()))
                .unwrap_or_else(|e| panic!("cannot load the images into node {n}: {e}"));
        }
        let _ = std::fs::remove_file(&archive);
        eprintln!("[nodes] images loaded into each: {:.1?}", t.elapsed());

        let t = Instant::now();
        // A one-second heartbeat: a stopped node is seen down within seconds, not 15 s. The
        // address pool stays clear of the bridge's 10.99.0.0/24.
        Self::cli(
            1,
            &format!(
                "swarm init --advertise-addr {a} --dispatcher-heartbeat 1s \
                 --default-addr-pool 10.128.0.0/16",
                a = Self::address(1)
            ),
        )
        .unwrap_or_else(|e| panic!("cannot initialise the swarm on node 1: {e}"));
        let token = Self::cli(1, "swarm join-token -q worker")
            .unwrap_or_else(|e| panic!("no join token: {e}"));
        for n in 2..=NODE_COUNT {
            Self::cli(
                n,
                &format!(
                    "swarm join --advertise-addr {a} --token {} {}:2377",
                    token.trim(),
                    Self::address(1),
                    a = Self::address(n)
                ),
            )
            .unwrap_or_else(|e| panic!("node {n} cannot join the swarm: {e}"));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Self::cli(1, "node ls --format '{{.Status}}'")
                .map(|out| out.lines().filter(|l| l.trim() == "Ready").count())
                .unwrap_or(0);
            if ready == usize::from(NODE_COUNT) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {ready} of {NODE_COUNT} nodes are ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("[nodes] swarm of {NODE_COUNT}: {:.1?}", t.elapsed());
    }

    /// Stops node `n` the way a machine goes away: every process of it killed at once, its
    /// engine saying nothing to the swarm.
    pub fn kill(n: u8) {
        kill_node(n).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Removes everything the nodes made. Idempotent; also done on drop.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        teardown_all();
        for mut engine in self.engines.drain(..) {
            let _ = engine.wait();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The processes of node `n`: its cgroup subtree (engine, containerd, shims, containers) and
/// whatever else runs in its network namespace.
fn node_pids(n: u8) -> Vec<String> {
    let script = format!(
        "{{ [ -d /sys/fs/cgroup/pids/{PREFIX}{n} ] && find /sys/fs/cgroup/pids/{PREFIX}{n} \
         -name cgroup.procs -exec cat {{}} +; ip netns pids {PREFIX}{n} 2>/dev/null; }} | sort -u"
    );
    sh(&script)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn kill_node(n: u8) -> Result<(), String> {
    for _ in 0..100 {
        let pids = node_pids(n);
        if pids.is_empty() {
            return Ok(());
        }
        let _ = sh(&format!("kill -9 {} 2>/dev/null", pids.join(" ")));
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "node {n}: processes left after 5 s: {:?}",
        node_pids(n)
    ))
}

/// Removes every trace of the nodes, whether or not they are up: processes, cgroups,
/// namespaces, interfaces, the iptables rules, the files. Errors are said, not returned: this
/// runs after a test, whatever its outcome.
fn teardown_all() {
    for n in 1..=NODE_COUNT {
        if let Err(e) = kill_node(n) {
            eprintln!("cleanup: {e}");
        }
    }
    let steps = [
        // Cgroup directories live in the machine's hierarchies and outlive the nodes.
        format!(
            "for d in /sys/fs/cgroup/*/{PREFIX}[0-9]; do [ -d \"$d\" ] && find \"$d\" -depth \
             -type d -exec rmdir {{}} \\; ; done; true"
        ),
        format!(
            "for n in 1 2 3; do ip netns del {PREFIX}$n 2>/dev/null; ip link del {PREFIX}$n 2>/dev/null; done; true"
        ),
        format!("ip link del {PREFIX}0 2>/dev/null; true"),
        format!(
            "while iptables -S FORWARD | grep -q -- '--comment {PREFIX}'; do \
             rule=$(iptables -S FORWARD | grep -- '--comment {PREFIX}' | head -1 | sed 's/^-A /-D /'); \
             eval iptables $rule || break; done"
        ),
        format!(
            "grep ' {ROOT}' /proc/self/mountinfo | awk '{{print $5}}' | sort -r | xargs -r -n1 umount -l; \
             rm -rf {ROOT}"
        ),
    ];
    for step in steps {
        if let Err(e) = sh(&step) {
            eprintln!("cleanup: {e}");
        }
    }
}
