//! A child process guard: the process runs in its own process group, and the whole group is
//! killed on drop (a prefork worker's pool, the Chromium that chromedriver started), unless the
//! process already exited cleanly.

use std::process::Stdio;

use anyhow::{Context, Result, ensure};
use tokio::process::{Child, Command};

use crate::TIMEOUT;

/// A child process whose whole process group is killed on drop (the command must have been
/// given `process_group(0)`).
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) child: Child,
    pid: u32,
    exited: bool,
}

impl Group {
    pub(crate) fn spawn(mut cmd: Command, what: &str) -> Result<Group> {
        let child = cmd.spawn().with_context(|| format!("start {what}"))?;
        let pid = child.id().context("pid")?;
        Ok(Group {
            child,
            pid,
            exited: false,
        })
    }

    /// Sends SIGTERM to the leader and waits for it to exit successfully.
    pub(crate) async fn terminate(&mut self, what: &str) -> Result<()> {
        kill(&["-TERM", &self.pid.to_string()])?;
        self.wait(what).await
    }

    /// Waits (at most [`TIMEOUT`]) for the leader to exit successfully.
    pub(crate) async fn wait(&mut self, what: &str) -> Result<()> {
        let status = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .with_context(|| format!("{what} did not exit within {TIMEOUT:?}"))??;
        self.exited = true;
        ensure!(status.success(), "{what} exited with {status}");
        Ok(())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.exited {
            let _ = kill(&["-KILL", "--", &format!("-{}", self.pid)]);
        }
    }
}

fn kill(args: &[&str]) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args(args)
        .stderr(Stdio::null())
        .status()?;
    ensure!(status.success(), "kill {args:?} failed");
    Ok(())
}
