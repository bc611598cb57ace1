//! Every `docker-link.*` label the plugin writes or reads, in one place. Everything the plugin
//! creates on a daemon carries [`ROLE`] (and the registry namespace where it belongs to one),
//! so that prune and the tests find exactly what is ours and nothing else is ever touched.

/// What an object of ours is: one of the `*_ROLE` values below.
pub const ROLE: &str = "docker-link.role";
/// Which graph (registry namespace) an object belongs to; `default` unless
/// `DOCKER_LINK_REGISTRY` chose another. Also on a parent made by `docker link run`, and
/// settable on compose services: which namespace's watcher realizes its declared links.
pub const NAMESPACE: &str = "docker-link.registry";

/// A registry generation: a container whose labels hold the graph.
pub const REGISTRY_ROLE: &str = "registry";
/// A registry write waiting for the next generation (a volume, see `graph::store`).
pub const INTENT_ROLE: &str = "intent";
/// The volume holding the graph's second copy.
pub const GRAPH_COPY_ROLE: &str = "graph-copy";
/// A throwaway container that reads the second copy out of its volume.
pub const READER_ROLE: &str = "graph-reader";
/// A parent's internal network that its children join under their aliases.
pub const LINK_NETWORK_ROLE: &str = "link-network";
/// A proxy container of `docker proxy up` (its options in `docker-link.proxy.*` labels).
pub const PROXY_ROLE: &str = "proxy";
/// The watcher container of a registry namespace.
pub const WATCHER_ROLE: &str = "watcher";
/// The watcher's keeper: starts the watcher again after a kill (and the watcher it).
pub const KEEPER_ROLE: &str = "watcher-keeper";
/// The self image (the static binary as an image).
pub const SELF_ROLE: &str = "self";
/// The empty image (for containers that are created and never started).
pub const EMPTY_ROLE: &str = "empty";
/// A volume holding one static binary, mounted read-only as the init of `link run --init`.
pub const INIT_VOLUME_ROLE: &str = "init-volume";
/// The helper container (never started) that fills an init volume; its name is the lock.
pub const INIT_FILL_ROLE: &str = "init-fill";
/// The lock (a container never started) held while the self image is imported: one import
/// however many commands need the image at once.
pub const IMPORT_LOCK_ROLE: &str = "import-lock";

/// A volume holding a `docker net` project's desired state (`net::store`).
pub const NET_ROLE: &str = "net";
/// On a net volume: the compose project.
pub const NET_PROJECT: &str = "docker-link.net.project";
/// The port forwarder container of a `docker net` project (`forward`).
pub const NET_FORWARDER_ROLE: &str = "net-forwarder";
/// On the port forwarder: the ports it publishes, as `docker net up` asked (a change makes it
/// again).
pub const NET_FORWARD: &str = "docker-link.net.forward";
/// On a net volume: the validated configuration, encoded by `net::store`.
pub const NET_CONFIG: &str = "docker-link.net.config";

/// On a registry generation: its number.
pub const GENERATION: &str = "docker-link.generation";
/// On a registry generation: the graph, encoded by `graph::codec`.
pub const GRAPH: &str = "docker-link.graph";
/// On an intent: the write it asks for, JSON.
pub const OP: &str = "docker-link.op";

/// On a container created by `docker link run/create` or compose: extra root names,
/// comma-separated.
pub const NAMES: &str = "docker-link.names";
/// On such a parent: its links, `CHILD:ALIAS` comma-separated; CHILD is a container id
/// (`docker link run` writes ids), a docker name, or a service of the parent's compose project.
pub const LINKS: &str = "docker-link.links";
/// On such a parent: the name of its link network (made before the parent existed, so it
/// cannot carry the parent's id).
pub const NETWORK: &str = "docker-link.network";
/// On a link network made for an existing parent: the parent's full id.
pub const PARENT: &str = "docker-link.parent";

/// Compose's own labels, read to resolve a declared link to a service (`db:redis`).
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";

/// On the self image and an init volume: the sha256 of the binary inside.
pub const BINARY_SHA256: &str = "docker-link.binary-sha256";
/// On an init volume: the docker-link version of the binary inside.
pub const VERSION: &str = "docker-link.version";

/// `docker-link.role=<role>` as a filter or `--label` value.
pub fn role(role: &str) -> String {
    format!("{ROLE}={role}")
}

/// `docker-link.registry=<ns>` as a filter or `--label` value.
pub fn namespace(ns: &str) -> String {
    format!("{NAMESPACE}={ns}")
}
