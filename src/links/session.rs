//! One command's conversation with a daemon about the graph: the connection, the snapshot it
//! read, and its writes. When the registry is gone the session rebuilds what it can: the
//! graph's copy is read by the store; without a copy, the links of `docker link connect` come
//! back from the link networks' members and aliases. Either way the first write puts the
//! registry back, and until then every read says so (in [`Session::warnings`]).

use std::cell::RefCell;

use crate::cancel::Cancel;
use crate::docker::engine::Engine;
use crate::graph::model::Edge;
use crate::graph::ops::Op;
use crate::graph::store::{Origin, Scope, Snapshot, Store, Written};

use super::network;

pub struct Session<E: Engine> {
    pub engine: E,
    pub ns: String,
    cancel: Cancel,
    /// Links rebuilt from the link networks, put back by the first write.
    recovered: Vec<Edge>,
    /// The snapshot `open` read, for the first write attempt.
    first: RefCell<Option<Snapshot>>,
    /// What the user should be told.
    pub warnings: Vec<String>,
}

impl<E: Engine> Session<E> {
    /// Reads the graph once; the snapshot is the caller's, and the first write reuses it.
    /// With a scope, the view holds only the containers it names and their neighbours
    /// ([`Store::load_scoped`]): what a write needs, without listing every container.
    pub async fn open(
        engine: E,
        ns: &str,
        cancel: Cancel,
        scope: Option<&Scope>,
    ) -> anyhow::Result<(Session<E>, Snapshot)> {
        let store = Store::new(&engine, ns, cancel.clone());
        let snap = match scope {
            Some(scope) => store.load_scoped(scope).await?,
            None => store.load().await?,
        };
        let mut warnings = snap.warnings.clone();
        let mut recovered = Vec::new();
        if snap.origin == Origin::Missing {
            // Link networks of this namespace mean a registry existed once: it was removed by
            // hand with its copy. Rebuild what the link networks still show.
            let nets = network::list(&engine, ns, true).await?;
            // Links the containers declare themselves (compose labels, `docker link run`)
            // were never the registry's: nothing of them was lost. Nor were links of a parent
            // that is gone.
            recovered = network::edges_of(&nets)
                .into_iter()
                .filter(|e| snap.view.node(&e.parent).is_some())
                .filter(|e| {
                    !snap.view.children(&e.parent).any(|(_, child, source)| {
                        child == e.child && source == crate::graph::model::Source::Declared
                    })
                })
                .collect();
            if !recovered.is_empty() {
                warnings.push(format!(
                    "the registry container and its copy are gone (removed by hand?): names given with \
                     `docker link` are lost; {} link(s) were rebuilt from the link networks, and the next \
                     write restores the registry",
                    recovered.len()
                ));
            }
        }
        warnings.extend(snap.view.shadow_warnings());
        let session = Session {
            engine,
            ns: ns.to_string(),
            cancel,
            recovered,
            first: RefCell::new(Some(snap.clone())),
            warnings,
        };
        Ok((session, snap))
    }

    pub fn store(&self) -> Store<'_, E> {
        Store::new(&self.engine, &self.ns, self.cancel.clone())
    }

    /// Writes `op`; the links rebuilt by `open` go in first. Warnings of the write are added
    /// to the session's.
    pub async fn write(&mut self, op: Op) -> anyhow::Result<Written> {
        let first = self.first.borrow_mut().take();
        let op = if self.recovered.is_empty() {
            op
        } else {
            Op::Batch {
                ops: vec![
                    Op::Restore {
                        edges: std::mem::take(&mut self.recovered),
                    },
                    op,
                ],
            }
        };
        let written = self.store().write(first, op).await?;
        self.warnings.extend(written.warnings.iter().cloned());
        Ok(written)
    }

    /// Whether the registry must be written back: read from its copy, or links rebuilt.
    pub fn needs_restore(&self, snap: &Snapshot) -> bool {
        snap.from_copy() || !self.recovered.is_empty()
    }

    /// A fresh read (after a failed write, to undo against what is committed now).
    pub async fn reload(&self) -> anyhow::Result<Snapshot> {
        self.store().load().await
    }
}
