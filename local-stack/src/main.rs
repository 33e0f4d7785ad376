//! `local-stack`: what `./dev` needs of the local stack beside the service itself.

use catalog_events::resources::Resources;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "local-stack",
    about = "Development support for the local stack"
)]
struct Cli {
    /// Prefix of every AWS resource name (side-by-side stacks).
    #[arg(long, env = "CATALOG_RESOURCE_PREFIX", default_value = "")]
    resource_prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the resources of `resources.json` (idempotent).
    Bootstrap,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let resources = Resources::standard()?.prefixed(&cli.resource_prefix);
    match cli.command {
        Command::Bootstrap => {
            let sdk = catalog_runtime::aws::sdk().await;
            catalog_local_stack::create(&sdk, &resources).await?;
            println!("local stack: buckets, bus, rules, queues and table are in place");
        }
    }
    Ok(())
}
