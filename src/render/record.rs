//! One node's record: what install.sh, the user-data and index.json all say of a node (its directories,
//! downloads, units and packages), computed once per node and handed on; the files it gets, its secrets
//! archive and its user-data sizes are added as the render makes them, and index.json is written from it.

use super::install::{Download, Planned};
use crate::bundle::index::{ArchiveEntry, Placed, PlacedDir};
use crate::model::{Node, Topology};

/// Everything the render decides about one node.
pub struct NodeRecord<'t> {
    /// The node.
    pub node: &'t Node,
    /// Directories made before any file is written, with their modes (bootcmd, install.sh, index).
    pub dirs: Vec<PlacedDir>,
    /// What install.sh downloads and checks.
    pub downloads: Vec<Download>,
    /// The systemd units the node runs, in the order install.sh enables and starts them.
    pub units: Vec<&'static str>,
    /// Distribution packages cloud-init installs.
    pub packages: Vec<&'static str>,
    /// The files the node gets, in path order (set once placed).
    pub files: Vec<Placed>,
    /// Its secrets archive (`secrets.delivery: archive`).
    pub archive: Option<ArchiveEntry>,
    /// Its user-data: plain bytes, gzip bytes, gzip level (set once rendered).
    pub user_data: (usize, usize, u8),
}

impl<'t> NodeRecord<'t> {
    /// The record of `node`: directories, downloads, units and packages.
    pub fn new(t: &Topology, node: &'t Node) -> NodeRecord<'t> {
        NodeRecord {
            node,
            dirs: super::placement::dirs_for(t, node),
            downloads: super::install::downloads(t, node),
            units: super::units::node_units(t, node),
            packages: super::install::packages(t, node),
            files: Vec::new(),
            archive: None,
            user_data: (0, 0, 0),
        }
    }

    /// What install.sh takes from the record.
    pub fn planned(&self) -> Planned<'_> {
        Planned { dirs: &self.dirs, downloads: &self.downloads, units: &self.units }
    }
}
