//! What the operator lets plugins have, and the checks an install or upgrade passes before
//! anything is created: the host version the manifest needs, the widenings past the manifest
//! (only with `--allow-more`), and the operator's maxima.
//!
//! A plugin's grant is its manifest's [`Permissions`] with the operator's [`Overrides`] for
//! that install applied ([`Permissions::with_overrides`]). Narrowing needs nothing; widening
//! past what the manifest declares needs the operator to say so, and is recorded with the
//! plugin; nothing passes the [`Policy`], which is kept in the store so that the command line
//! and `nanofleet serve` apply the same one.

use nanofleet_sdk::manifest::{
    Cpus, Diagnostics, Manifest, Memory, Network, Overrides, Permissions, ResourceLimits, rules,
};
use serde::{Deserialize, Serialize};

/// The operator's limits on every plugin's grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The most memory a plugin may have, e.g. `"1GiB"`; none: no maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub max_memory: Option<Memory>,
    /// The most CPUs a plugin may have, e.g. `2`; none: no maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub max_cpus: Option<Cpus>,
    /// The most processes and threads a plugin may have; none: no maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pids: Option<u32>,
    /// Refuse plugins granted unrestricted network (`"network": true`).
    #[serde(default)]
    pub forbid_unrestricted_network: bool,
    /// Refuse plugins granted child processes (`"process": {"spawn": true}`).
    #[serde(default)]
    pub forbid_spawn: bool,
}

impl Policy {
    /// Every way `granted` goes past this policy, one sentence each.
    pub fn refusals(&self, granted: &Permissions, defaults: &ResourceLimits) -> Vec<String> {
        let mut refused = Vec::new();
        let limits = granted.resources.resolve(defaults);
        if let Some(max) = self.max_memory
            && limits.memory_bytes > max.0
        {
            refused.push(format!(
                "memory {} is above the operator's maximum {max}",
                Memory(limits.memory_bytes)
            ));
        }
        if let Some(max) = self.max_cpus
            && limits.milli_cpus > max.0
        {
            refused.push(format!(
                "cpus {} is above the operator's maximum {max}",
                Cpus(limits.milli_cpus)
            ));
        }
        if let Some(max) = self.max_pids
            && limits.pids > u64::from(max)
        {
            refused.push(format!(
                "pids {} is above the operator's maximum {max}",
                limits.pids
            ));
        }
        if self.forbid_unrestricted_network && granted.network == Network::Unrestricted {
            refused.push("unrestricted network, which the operator's policy forbids".into());
        }
        if self.forbid_spawn && granted.process.spawn {
            refused.push("spawning processes, which the operator's policy forbids".into());
        }
        refused
    }

    /// Checks the policy's own values, e.g. a maximum below what a container needs.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Some(memory) = self.max_memory
            && let Err(v) = memory.check()
        {
            problems.push(format!("maxMemory: {v}"));
        }
        if let Some(cpus) = self.max_cpus
            && let Err(v) = cpus.check()
        {
            problems.push(format!("maxCpus: {v}"));
        }
        if self.max_pids.is_some_and(|p| p < 8) {
            problems.push("maxPids: below 8, no plugin could start".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Why a plugin's grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The manifest needs a newer host.
    #[error("plugin `{plugin}` cannot run here: {reason}")]
    HostTooOld {
        /// The plugin.
        plugin: String,
        /// The sentence naming both versions.
        reason: String,
    },
    /// The operator's overrides are not valid permissions.
    #[error("the permission overrides for `{plugin}` are not valid:\n{diagnostics}")]
    InvalidOverrides {
        /// The plugin.
        plugin: String,
        /// Every problem.
        diagnostics: Diagnostics,
    },
    /// The grant is wider than what the plugin declared (or held before an upgrade), and the
    /// operator did not allow more.
    #[error(
        "plugin `{plugin}` would get more than {base}: {}; pass --allow-more (allowMore in the API) to grant it",
        widenings.join("; ")
    )]
    Widening {
        /// The plugin.
        plugin: String,
        /// What the grant is compared with: "its manifest declares" or "it was granted".
        base: &'static str,
        /// Every widening.
        widenings: Vec<String>,
    },
    /// The grant goes past the operator's policy.
    #[error("plugin `{plugin}` is refused by the operator's policy: {}", refusals.join("; "))]
    Policy {
        /// The plugin.
        plugin: String,
        /// Every refusal.
        refusals: Vec<String>,
    },
}

/// What an install or upgrade is asked to grant.
#[derive(Debug, Clone, Copy)]
pub struct GrantRequest<'a> {
    /// The operator's overrides the plugin will run with: on an upgrade, those kept from
    /// before with the ones named now on top.
    pub overrides: &'a Overrides,
    /// The overrides this request names itself (on an install, all of them).
    pub given: &'a Overrides,
    /// Whether widening is allowed.
    pub allow_more: bool,
}

/// A grant that passed every check: the permissions the plugin runs with, and the widenings
/// the operator accepted for it (to record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permissions the plugin runs with.
    pub permissions: Permissions,
    /// The widenings accepted with `--allow-more`, empty when there were none.
    pub allowed_more: Vec<String>,
}

/// This host's version, which `minHostVersion` is checked against.
pub fn host_version() -> semver::Version {
    semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap_or(semver::Version::new(0, 0, 0))
}

/// Checks what installing (`previous` `None`) or upgrading to `manifest` with `request` would
/// grant. On an install, widening is judged against the manifest. On an upgrade, against what
/// the plugin held before (a new version asking for more needs the operator's word again),
/// and the overrides the upgrade names against the new manifest; overrides accepted at an
/// earlier install or upgrade carry over.
pub fn check_grant(
    manifest: &Manifest,
    previous: Option<&Permissions>,
    request: GrantRequest<'_>,
    policy: &Policy,
    defaults: &ResourceLimits,
) -> Result<Grant, GrantError> {
    let plugin = manifest.name.clone();
    if let Some(requirement) = &manifest.min_host_version
        && let Err(v) = rules::check_host_version(requirement, &host_version())
    {
        return Err(GrantError::HostTooOld {
            plugin,
            reason: v.message,
        });
    }
    let permissions = manifest.permissions.with_overrides(request.overrides);
    let mut diagnostics = Diagnostics::new();
    permissions.validate_into("overrides", &mut diagnostics);
    if diagnostics.has_errors() {
        return Err(GrantError::InvalidOverrides {
            plugin,
            diagnostics,
        });
    }
    let (base, what) = match previous {
        Some(previous) => (previous, "it was granted before"),
        None => (&manifest.permissions, "its manifest declares"),
    };
    let mut widenings = permissions.widenings_over(base, defaults);
    if previous.is_some() {
        // What this upgrade names past the new manifest counts too, even within the old
        // grant; overrides accepted before carry over without being asked for again.
        let named = manifest.permissions.with_overrides(request.given);
        for extra in named.widenings_over(&manifest.permissions, defaults) {
            if !widenings.contains(&extra) {
                widenings.push(extra);
            }
        }
    }
    if !widenings.is_empty() && !request.allow_more {
        return Err(GrantError::Widening {
            plugin,
            base: what,
            widenings,
        });
    }
    let refusals = policy.refusals(&permissions, defaults);
    if !refusals.is_empty() {
        return Err(GrantError::Policy { plugin, refusals });
    }
    Ok(Grant {
        permissions,
        allowed_more: widenings,
    })
}

#[cfg(test)]
mod tests {
    use nanofleet_sdk::manifest::{Filesystem, Resources};

    use super::*;

    fn manifest() -> Manifest {
        Manifest::new("probe", "0.1.0", "probe:0.1.0", 8080)
    }

    fn request(overrides: &Overrides, allow_more: bool) -> GrantRequest<'_> {
        GrantRequest {
            overrides,
            given: overrides,
            allow_more,
        }
    }

    #[test]
    fn narrowing_needs_nothing_and_widening_needs_allow_more() {
        let defaults = ResourceLimits::default();
        let narrower = Overrides {
            filesystem: Some(Filesystem::ReadOnly),
            memory: Some(Memory(64 << 20)),
            ..Overrides::default()
        };
        let grant = check_grant(
            &manifest(),
            None,
            request(&narrower, false),
            &Policy::default(),
            &defaults,
        );
        assert!(
            grant.as_ref().is_ok_and(|g| g.allowed_more.is_empty()),
            "{grant:?}"
        );

        let wider = Overrides {
            network: Some(Network::Unrestricted),
            spawn: Some(true),
            ..Overrides::default()
        };
        let refused = check_grant(
            &manifest(),
            None,
            request(&wider, false),
            &Policy::default(),
            &defaults,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(refused.contains("network unrestricted"), "{refused}");
        assert!(refused.contains("process.spawn"), "{refused}");
        assert!(refused.contains("--allow-more"), "{refused}");
        let granted = check_grant(
            &manifest(),
            None,
            request(&wider, true),
            &Policy::default(),
            &defaults,
        );
        assert_eq!(granted.map(|g| g.allowed_more.len()).ok(), Some(2));
    }

    #[test]
    fn an_upgrade_asking_for_more_than_before_needs_allow_more() {
        let defaults = ResourceLimits::default();
        let mut next = manifest();
        next.permissions.process.spawn = true;
        let before = Permissions::default();
        let none = Overrides::default();
        let refused = check_grant(
            &next,
            Some(&before),
            request(&none, false),
            &Policy::default(),
            &defaults,
        );
        assert!(
            matches!(
                &refused,
                Err(GrantError::Widening {
                    base: "it was granted before",
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(
            check_grant(
                &next,
                Some(&next.permissions.clone()),
                request(&none, false),
                &Policy::default(),
                &defaults
            )
            .is_ok()
        );
    }

    #[test]
    fn an_upgrade_keeps_what_was_allowed_before_and_asks_again_for_what_it_names() {
        let defaults = ResourceLimits::default();
        // Installed with unrestricted network beyond the manifest, allowed then.
        let kept = Overrides {
            network: Some(Network::Unrestricted),
            ..Overrides::default()
        };
        let before = manifest().permissions.with_overrides(&kept);
        let nothing_new = GrantRequest {
            overrides: &kept,
            given: &Overrides::default(),
            allow_more: false,
        };
        let grant = check_grant(
            &manifest(),
            Some(&before),
            nothing_new,
            &Policy::default(),
            &defaults,
        );
        assert!(grant.is_ok_and(|g| g.allowed_more.is_empty()));

        // Named again (or anew) at the upgrade, past the manifest: the operator's word again.
        let named = GrantRequest {
            overrides: &kept,
            given: &kept,
            allow_more: false,
        };
        let refused = check_grant(
            &manifest(),
            Some(&before),
            named,
            &Policy::default(),
            &defaults,
        );
        assert!(
            matches!(refused, Err(GrantError::Widening { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn the_policy_refuses_above_its_maxima_and_forbidden_grants() {
        let defaults = ResourceLimits::default();
        let policy = Policy {
            max_memory: Some(Memory(128 << 20)),
            forbid_unrestricted_network: true,
            ..Policy::default()
        };
        // The default 256MiB is above a 128MiB maximum: the policy applies to defaults too.
        let refused = check_grant(
            &manifest(),
            None,
            request(&Overrides::default(), false),
            &policy,
            &defaults,
        );
        let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("memory 256MiB is above the operator's maximum 128MiB"),
            "{text}"
        );

        let mut asks = manifest();
        asks.permissions.resources = Resources {
            memory: Some(Memory(64 << 20)),
            ..Resources::default()
        };
        asks.permissions.network = Network::Unrestricted;
        let text = check_grant(
            &asks,
            None,
            request(&Overrides::default(), false),
            &policy,
            &defaults,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(text.contains("unrestricted network"), "{text}");
        assert!(!text.contains("memory"), "{text}");
    }

    #[test]
    fn an_old_host_is_refused_naming_both_versions() {
        let needs = manifest().with_min_host_version(">=99.0");
        let text = check_grant(
            &needs,
            None,
            request(&Overrides::default(), false),
            &Policy::default(),
            &ResourceLimits::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            text.contains(">=99.0") && text.contains(env!("CARGO_PKG_VERSION")),
            "{text}"
        );
    }

    #[test]
    fn invalid_overrides_are_reported() {
        let bad = Overrides {
            network: Some(Network::Allow(vec!["nowhere".into()])),
            ..Overrides::default()
        };
        let refused = check_grant(
            &manifest(),
            None,
            request(&bad, true),
            &Policy::default(),
            &ResourceLimits::default(),
        );
        assert!(
            matches!(refused, Err(GrantError::InvalidOverrides { .. })),
            "{refused:?}"
        );
    }
}
