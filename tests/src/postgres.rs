//! A PostgreSQL cluster of one's own, that a test or the soak may stop and start at will (the
//! machine's shared server is not theirs to restart). `./dev` names the server's binaries in
//! `CATALOG_PG_BIN`. The cluster lives in a temporary folder and is removed when dropped.

use std::path::PathBuf;
use std::process::Command;

use uuid::Uuid;

use crate::stack_env;

pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    /// Creates a cluster (trust authentication, user `postgres`) and starts it on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let bin = PathBuf::from(stack_env("CATALOG_PG_BIN")?);
        let data = std::env::temp_dir().join(format!("catalog-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cluster = Self { bin, data, port };
        if as_root() {
            // PostgreSQL refuses to run as root: the cluster is its own user's.
            run(Command::new("chown").arg("postgres").arg(&cluster.data))?;
        }
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"]))?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The URL of database `name` on it.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// Stops it the way a crash would (no checkpoint, connections cut), then starts it again:
    /// it recovers from its write-ahead log.
    pub fn crash_and_restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "immediate", "stop"])?;
        self.start_server()
    }

    /// Stops it as an operator's restart or a failover would (`fast`: every session is ended,
    /// a checkpoint taken), then starts it again.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "fast", "stop"])?;
        self.start_server()
    }

    fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let log = log.to_str().unwrap_or("server.log");
        self.pg_ctl(&["-l", log, "-w", "-o", &options, "start"])
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        run(self.command("pg_ctl").arg("-D").arg(&self.data).args(args))
    }

    /// One of the server's programs, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
