//! `toolhive secret set | get | list | delete`. Values come from stdin or a prompt, never argv
//! (argv is visible to every local user).

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use toolhive_core::secrets::{Secret, check_name};
use toolhive_core::{Error, ErrorKind, ProxyManager};

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Store a secret; the value is read from stdin (or asked for on a terminal).
    Set { name: String },
    /// Print a secret's value.
    Get { name: String },
    /// List secret names (never values).
    List,
    /// Delete a secret.
    Delete { name: String },
}

pub async fn run(manager: &ProxyManager, command: SecretCommand) -> Result<(), Error> {
    let store = manager.secret_store();
    match command {
        SecretCommand::Set { name } => {
            check_name(&name)?;
            let value = read_value(&name)?;
            store.set(&name, Secret::new(value)).await?;
            eprintln!("stored secret {name} in the {} store", store.kind());
        }
        SecretCommand::Get { name } => {
            let secret = store.get(&name).await?.ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no secret named `{name}`"))
            })?;
            println!("{}", secret.expose());
        }
        SecretCommand::List => {
            for name in store.list().await? {
                println!("{name}");
            }
        }
        SecretCommand::Delete { name } => {
            store.delete(&name).await?;
            eprintln!("deleted secret {name}");
        }
    }
    Ok(())
}

fn read_value(name: &str) -> Result<String, Error> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot read the value: {e}"));
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value for {name}: ")).map_err(io)?
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(io)?;
        text.trim_end_matches(['\r', '\n']).to_owned()
    };
    if value.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("the value for `{name}` is empty; nothing was stored"),
        ));
    }
    Ok(value)
}
