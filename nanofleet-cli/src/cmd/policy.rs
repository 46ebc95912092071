//! `nanofleet policy`: shows the operator's policy, and changes the fields given first.
//! Locally or, with `--server`, through the server's API: the same policy either way.

use nanofleet_host::policy::Policy;

use crate::{
    cli::PolicyArgs,
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, note},
};

/// Runs `policy`.
pub async fn run(ctx: &Context, args: &PolicyArgs) -> Result<u8, CliError> {
    let changing = asks_for_changes(args);
    let fleet = Fleet::new(ctx);
    let mut policy = fleet.policy().await?;
    if changing {
        apply(args, &mut policy);
        policy = fleet.set_policy(&policy).await?;
    }
    if changing {
        note("policy updated; it applies to the next install or upgrade");
    }
    if args.json {
        output::json(&policy)?;
    } else {
        output::line(describe(&policy))?;
    }
    Ok(0)
}

/// Whether any option asks for a change (otherwise the policy is only shown).
fn asks_for_changes(args: &PolicyArgs) -> bool {
    args.max_memory.is_some()
        || args.max_cpus.is_some()
        || args.max_pids.is_some()
        || args.forbid_unrestricted_network.is_some()
        || args.forbid_spawn.is_some()
}

/// The fields the options name, set in `policy`.
fn apply(args: &PolicyArgs, policy: &mut Policy) {
    if let Some(memory) = args.max_memory {
        policy.max_memory = memory.0;
    }
    if let Some(cpus) = args.max_cpus {
        policy.max_cpus = cpus.0;
    }
    if let Some(pids) = args.max_pids {
        policy.max_pids = pids.0;
    }
    if let Some(network) = args.forbid_unrestricted_network {
        policy.forbid_unrestricted_network = network;
    }
    if let Some(spawn) = args.forbid_spawn {
        policy.forbid_spawn = spawn;
    }
}

fn describe(policy: &Policy) -> String {
    let or_none = |value: Option<String>| value.unwrap_or_else(|| "no maximum".into());
    let allowed = |forbidden: bool| if forbidden { "forbidden" } else { "allowed" };
    format!(
        "max memory:            {}\nmax cpus:              {}\nmax pids:              {}\n\
         unrestricted network:  {}\nspawning processes:    {}",
        or_none(policy.max_memory.map(|m| m.to_string())),
        or_none(policy.max_cpus.map(|c| c.to_string())),
        or_none(policy.max_pids.map(|p| p.to_string())),
        allowed(policy.forbid_unrestricted_network),
        allowed(policy.forbid_spawn),
    )
}
