"""A RabbitMQ cluster on this host for the soak: three nodes of Debian's rabbitmq-server with the MQTT
plugin, each on its own free ports (MQTT, AMQP, Erlang distribution) and its own database folder,
joined into one cluster by classic peer discovery; a node can be SIGKILLed and started again.

    cluster = RabbitCluster(Path("run/rabbitmq"))
    cluster.start()              # all nodes; cluster.port is node 1's MQTT port, failover_ports the rest
    cluster.kill()               # SIGKILL the next node in turn (node 1 first: the clients are there)
    cluster.start()              # the killed node starts again and rejoins

The nodes run as the `rabbitmq` user when started by root (its scripts refuse root otherwise), so
every folder they write is made writable for it. Erlang's port mapper runs as a child of ours on a
free port (ERL_EPMD_PORT), never on the shared 4369.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from collector.demo.procs import Child, free_port, port_open, wait_until

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
NODE_CONF = """\
listeners.tcp.default = 127.0.0.1:{amqp}
mqtt.listeners.tcp.default = 127.0.0.1:{mqtt}
mqtt.allow_anonymous = true
# unacknowledged QoS 1 deliveries per subscriber: the default 10 lets a historian write 10 messages
# per store round trip (docs/OPERATIONS.md)
mqtt.prefetch = 1000
loopback_users = none
cluster_formation.peer_discovery_backend = classic_config
{peers}
"""
# clean-session historians take a fresh client id per connection; a queue left on a node that died
# while they were connected comes back with that node and nobody consumes it: expire it
ORPHANS = ("shopfloor-orphans", "^mqtt-subscription-shopfloor-historian-", '{"expires":600000}')


def available() -> bool:
    return os.access(SERVER, os.X_OK)


@dataclass
class Node:
    name: str  # rmq1@localhost
    mqtt: int
    amqp: int
    dist: int
    child: Child | None = None

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive


@dataclass
class RabbitCluster:
    workdir: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)
    persistent: bool = True  # what a node keeps is its own business; a kill loses its queues' contents
    killed: Node | None = None
    _home: Path | None = None  # the nodes' folders and the cookie
    _epmd: Child | None = None
    _epmd_port: int = 0
    _kills: int = 0

    @property
    def port(self) -> int:
        """The first node's MQTT port: the plant file's mqtt.port."""
        return self.nodes[0].mqtt

    @property
    def failover_ports(self) -> tuple[int, ...]:
        return tuple(n.mqtt for n in self.nodes[1:])

    @property
    def running(self) -> bool:
        return bool(self.nodes) and all(n.running for n in self.nodes)

    def start(self) -> None:
        """Every node that is not running: all of them the first time, then the one killed."""
        if not self.nodes:
            self._prepare()
        for node in self.nodes:
            if not node.running:
                node.child = Child(node.name, self._argv(), self.workdir / f"{node.name}.log",
                                   env=self._env(node)).start()  # fmt: skip
        for node in self.nodes:
            wait_until(partial(port_open, node.mqtt), 120, f"RabbitMQ {node.name} MQTT", child=node.child)
        if self._kills == 0:
            self.ctl(self.nodes[0], "set_policy", "--apply-to", "queues", *ORPHANS)
        self.killed = None

    def kill(self) -> None:
        """SIGKILL one node, in turn (node 1 first: the collector and the historians are there)."""
        node = self.nodes[self._kills % len(self.nodes)]
        self._kills += 1
        if node.child is not None:
            node.child.kill()
        self.killed = node

    def stop(self, grace: float = 30.0) -> None:
        for node in self.nodes:
            if node.child is not None:
                node.child.stop(grace)

    def close(self) -> None:
        self.stop()
        if self._epmd is not None:
            self._epmd.stop()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    def ctl(self, node: Node, *args: str) -> str:
        """rabbitmqctl against one node (as the rabbitmq user, with the cluster's cookie)."""
        argv = [*self._as_rabbitmq(), CTL, "-n", node.name, *args]
        done = subprocess.run(argv, env=self._env(node), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    # -- internals --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # outside the run folder, whose parents the rabbitmq user may not be allowed to enter
        home = self._home = Path(tempfile.mkdtemp(prefix="shopfloor-rabbitmq-"))
        home.chmod(0o755)
        self.nodes = [
            Node(f"rmq{i}@localhost", free_port(), free_port(), free_port()) for i in range(1, self.size + 1)
        ]
        peers = "\n".join(f"cluster_formation.classic_config.nodes.{i} = {n.name}"
                          for i, n in enumerate(self.nodes, 1))  # fmt: skip
        for node in self.nodes:
            folder = home / node.name
            folder.mkdir(exist_ok=True)
            conf = NODE_CONF.format(amqp=node.amqp, mqtt=node.mqtt, peers=peers)
            (folder / "rabbitmq.conf").write_text(conf, encoding="utf-8")
            (folder / "enabled_plugins").write_text("[rabbitmq_mqtt].\n", encoding="utf-8")
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16), encoding="ascii")
        self._hand_over(home)
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        self._epmd_port = free_port()
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        self._epmd = Child("epmd", [*self._as_rabbitmq(), epmd], self.workdir / "epmd.log",
                           env={**os.environ, "ERL_EPMD_PORT": str(self._epmd_port)}).start()  # fmt: skip
        wait_until(lambda: port_open(self._epmd_port), 20, "epmd", child=self._epmd)

    def _hand_over(self, folder: Path) -> None:
        """The nodes write here as the rabbitmq user."""
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("rabbitmq")
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _as_rabbitmq(self) -> list[str]:
        """As the rabbitmq user when we are root, keeping our environment (HOME: the cookie)."""
        return ["runuser", "-m", "-u", "rabbitmq", "--"] if os.geteuid() == 0 else []

    def _argv(self) -> list[str]:
        return [*self._as_rabbitmq(), SERVER]

    def _env(self, node: Node) -> dict[str, str]:
        assert self._home is not None
        folder = self._home / node.name
        return {
            **os.environ,
            "HOME": str(self._home),  # the cookie
            "ERL_EPMD_PORT": str(self._epmd_port),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_DIST_PORT": str(node.dist),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "pid"),
            "RABBITMQ_LOGS": "-",
        }
