//! Times `sys::nft::replace_table` for tables planned by `links::reach` over N link networks,
//! against the floor: `nft -f` of the same table (as `Table::to_nft_script` writes it) in the
//! same namespace and run. Everything happens in a fresh network namespace made for the run,
//! gone when it ends. Driven by benches/nft.sh; needs root and the `nft` binary.
//!
//! Usage: nft-bench [RUNS] N...

// A measuring tool prints its figures and stops on the first error.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use docker_link::links::reach::{self, Child, LinkNet, Ports, Proto};
use docker_link::sys::netns::{self, NetNs};
use docker_link::sys::nft::{self, Family, Table};

/// N link networks, each a parent and three children with 80/tcp and 53/udp exposed, dual
/// stack: 12 allow rules per network.
fn networks(n: usize) -> Vec<LinkNet> {
    (0..n)
        .map(|i| {
            let (hi, lo) = (i / 256, i % 256);
            let a4 = |h: u8| -> IpAddr {
                format!("10.{}.{lo}.{h}", 100 + hi)
                    .parse()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            };
            let a6 = |h: u8| -> IpAddr {
                format!("fd00:{i:x}::{h}")
                    .parse()
                    .unwrap_or(IpAddr::from([0u16; 8]))
            };
            LinkNet {
                bridge: format!("br-{i:012x}"),
                parent: vec![a4(2), a6(2)],
                children: (3..6)
                    .map(|h| Child {
                        addrs: vec![a4(h), a6(h)],
                        ports: vec![Ports::one(Proto::Tcp, 80), Ports::one(Proto::Udp, 53)],
                    })
                    .collect(),
            }
        })
        .collect()
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[0]))
}

type Timings = (Vec<Duration>, Vec<Duration>, Vec<Duration>);

fn bench(table: &Table, runs: usize) -> Result<Timings, Box<dyn Error + Send + Sync>> {
    let mut ours = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        nft::replace_table(table)?;
        ours.push(t.elapsed());
    }
    // The watcher's drift check: read the table back and compare.
    let mut reads = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let state = nft::list_table(Family::Inet, &table.name)?.ok_or("the table is missing")?;
        reads.push(t.elapsed());
        if !state.matches(table) {
            return Err("replace_table left something else than planned".into());
        }
    }
    nft::delete_table(Family::Inet, &table.name)?;

    let dir = std::env::temp_dir().join(format!("nft-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("table.nft");
    std::fs::File::create(&script)?.write_all(table.to_nft_script().as_bytes())?;
    let mut floor = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        // Spawned from this thread, nft runs in this thread's namespace.
        let out = Command::new("nft").arg("-f").arg(&script).output()?;
        floor.push(t.elapsed());
        if !out.status.success() {
            return Err(format!("nft -f: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
    }
    // The text is the same table: same fingerprint, same rules per chain.
    let state = nft::list_table(Family::Inet, &table.name)?.ok_or("nft made no table")?;
    if !state.matches(table) {
        return Err("nft -f of the script made another table".into());
    }
    nft::delete_table(Family::Inet, &table.name)?;
    std::fs::remove_dir_all(&dir)?;
    Ok((ours, floor, reads))
}

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    if args.len() < 2 {
        return Err("usage: nft-bench RUNS N...".into());
    }
    let runs = args.remove(0);
    let ns = NetNs::create()?;
    println!("| link networks | rules | nft script | replace_table (ours) median / min | nft -f (floor) median / min | ours/floor | list_table (drift check) median |");
    println!("|---|---|---|---|---|---|---|");
    for n in args {
        let table = reach::plan(reach::TABLE, &networks(n), None);
        let (ours, floor, reads) = netns::run_in(&ns, |_h| async { bench(&table, runs) })??;
        let (om, omin) = stats(ours);
        let (fm, fmin) = stats(floor);
        let (rm, _) = stats(reads);
        println!(
            "| {n} | {} | {} KiB | {om:.2} / {omin:.2} ms | {fm:.2} / {fmin:.2} ms | {:.2} | {rm:.2} ms |",
            table.rule_count(),
            table.to_nft_script().len() / 1024,
            om / fm
        );
    }
    Ok(())
}
