use super::*;
use crate::docker::engine::State;
use crate::docker::fake::Fake;
use crate::net::config::{load, Defaults, Source, SourceKind};

/// The configuration of a compose file's top-level `x-network.links` (one line each).
fn config(links: &[&str]) -> NetConfig {
    let yaml = format!(
        "x-network:\n  links:\n{}",
        links
            .iter()
            .map(|l| format!("    - {l}\n"))
            .collect::<String>()
    );
    let src = Source {
        name: "c.yaml".into(),
        kind: SourceKind::Compose,
        value: crate::net::config::parse_document(&yaml).unwrap(),
    };
    load(
        &[src],
        &Default::default(),
        &Default::default(),
        &Defaults::default(),
    )
    .unwrap()
    .config
}

#[test]
fn each_replica_publishes_its_own_port() {
    let c = config(&[
        "{service: web, bridge: s1, ip: 10.1.0.1/24, forward: [8080:80/tcp, 8443:443/tcp]}",
        "{service: dns, bridge: s2, ip: 10.2.0.1/24, forward: 53:53/udp}",
        "{service: db, bridge: s2, ip: 10.2.0.9/24}",
    ]);
    let scales = [("web".to_string(), 3), ("dns".to_string(), 1)].into();
    assert_eq!(
        publish(&c, &scales),
        [
            "53:53/udp",
            "8080:8080/tcp",
            "8081:8081/tcp",
            "8082:8082/tcp",
            "8443:8443/tcp",
            "8444:8444/tcp",
            "8445:8445/tcp",
        ]
    );
    assert!(publish(
        &config(&["{service: db, bridge: s, ip: 10.0.0.1/24}"]),
        &scales
    )
    .is_empty());
}

#[test]
fn the_forwarder_takes_the_last_address_of_each_bridge() {
    let c = config(&[
        "{service: db, bridge: s1, ip: 10.1.0.9/24}",
        "{service: web, bridge: s1, ip: 10.1.0.1/24, forward: 80:80/tcp}",
        "{service: api, bridge: s1, ip: 10.1.0.2/24, forward: 81:80/tcp}",
        "{service: dns, bridge: s2, ip: 192.168.7.1/30, forward: 53:53/udp}",
    ]);
    let a = addresses(&c);
    let text: Vec<String> = a.iter().map(|(b, c)| format!("{b} {c}")).collect();
    assert_eq!(text, ["s1 10.1.0.254/24", "s2 192.168.7.2/30"]);
}

#[test]
fn the_table_sends_each_port_on_and_answers_from_the_bridge() {
    let a = [("s1".to_string(), "10.1.0.254/24".parse().unwrap())].into();
    let rule = |port, to: &str, to_port| Rule {
        proto: Proto::Tcp,
        port,
        to: to.parse().unwrap(),
        to_port,
    };
    let t = table(
        &a,
        &[
            rule(8081, "10.1.0.2", 80),
            rule(8080, "10.1.0.1", 80),
            rule(8080, "10.1.0.1", 80),
        ],
    );
    assert_eq!(t.name, TABLE);
    let dev = dev_name("s1");
    assert_eq!(dev.len(), 11);
    assert!(dev.starts_with("fw-"));
    let rules: Vec<String> = t
        .chains
        .iter()
        .flat_map(|c| {
            c.rules
                .iter()
                .map(move |r| format!("{}: {}", c.name, r.to_nft(t.family)))
        })
        .collect();
    assert_eq!(
        rules,
        [
            "dnat: iifname \"eth0\" meta nfproto ipv4 meta l4proto tcp th dport 8080 dnat ip to 10.1.0.1:80".to_string(),
            "dnat: iifname \"eth0\" meta nfproto ipv4 meta l4proto tcp th dport 8081 dnat ip to 10.1.0.2:80".to_string(),
            format!("snat: oifname \"{dev}\" meta nfproto ipv4 snat ip to 10.1.0.254"),
        ]
    );
    // Deterministic: the same rules in another order are the same table.
    assert_eq!(
        t.fingerprint(),
        table(
            &a,
            &[rule(8080, "10.1.0.1", 80), rule(8081, "10.1.0.2", 80)]
        )
        .fingerprint()
    );
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn converge_makes_keeps_remakes_and_removes_the_forwarder() {
    block_on(async {
        let fake = Fake::new();
        let name = container_name("p");
        let ports = vec!["8080:8080/tcp".to_string()];
        assert_eq!(
            converge(&fake, "default", "p", &[]).await.unwrap(),
            Converged::Nothing
        );
        assert_eq!(
            converge(&fake, "default", "p", &ports).await.unwrap(),
            Converged::Made
        );
        let id = fake.world().find(&name).unwrap();
        {
            let w = fake.world();
            let c = &w.containers[&id];
            assert_eq!(c.state, State::Running);
            assert_eq!(c.spec.publish, ports);
            assert_eq!(c.spec.sysctls["net.ipv4.ip_forward"], "1");
            assert_eq!(c.spec.labels[labels::ROLE], labels::NET_FORWARDER_ROLE);
            assert_eq!(c.spec.labels[labels::NET_PROJECT], "p");
            assert!(c.spec.keep_running);
        }
        assert_eq!(
            converge(&fake, "default", "p", &ports).await.unwrap(),
            Converged::Kept
        );
        fake.stop_all();
        assert_eq!(
            converge(&fake, "default", "p", &ports).await.unwrap(),
            Converged::Started
        );
        let more = vec!["8080:8080/tcp".to_string(), "8081:8081/tcp".to_string()];
        assert_eq!(
            converge(&fake, "default", "p", &more).await.unwrap(),
            Converged::Remade
        );
        let id2 = fake.world().find(&name).unwrap();
        assert_ne!(
            id, id2,
            "Docker cannot change a container's ports: a new one"
        );
        assert!(fake.world().find(&id).is_none());
        assert_eq!(
            converge(&fake, "default", "p", &[]).await.unwrap(),
            Converged::Removed
        );
        assert!(fake.world().find(&name).is_none());
        assert!(!remove(&fake, "p").await.unwrap());
        converge(&fake, "default", "p", &ports).await.unwrap();
        assert!(remove(&fake, "p").await.unwrap());
        assert!(fake.world().find(&name).is_none());
    });
}
