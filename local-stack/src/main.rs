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
    /// Put the seller page into its bucket, configured for the local APIs; print its URL.
    PublishPage {
        /// The folder of the page's files.
        #[arg(long, default_value = "seller-page")]
        dir: std::path::PathBuf,
        /// The write API's base URL, as the browser reaches it.
        #[arg(long)]
        write_api: String,
        /// The read API's base URL, as the browser reaches it.
        #[arg(long)]
        read_api: String,
    },
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
        Command::PublishPage {
            dir,
            write_api,
            read_api,
        } => {
            let sdk = catalog_runtime::aws::sdk().await;
            let page = serde_json::json!({
                "write_api": write_api,
                "read_api": read_api,
                "auth": {"kind": "token"},
            });
            let url = catalog_local_stack::publish_page(&sdk, &resources, &dir, &page).await?;
            println!("{url}");
        }
    }
    Ok(())
}
