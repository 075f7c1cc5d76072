//! Authorization: who a caller is (a [`Principal`] with its IAM policies)
//! and whether its policies allow an action on a resource
//! ([`policy::evaluate`]). The protocols name the actions and resources of
//! their requests (`dynamodb::access`, `lambda::access`); this module knows
//! no protocol.
//!
//! A principal without a policy list is the account's administrator, as
//! the root user is: everything is allowed, except what a resource-based
//! policy explicitly denies it (an explicit deny in any policy wins, in
//! IAM's evaluation). One with a list, even an empty one, is allowed only
//! what a policy allows, and an explicit `Deny` wins.

pub mod policy;

use std::net::IpAddr;
use std::sync::Arc;
use tidepool_store::messages;

pub use policy::{Context, Decision, Policy};

/// Where a request came from, for the global condition keys that describe
/// its transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (`aws:SourceIp`). `None` for a call a handler
    /// makes in process, as AWS leaves the key out when a service calls on
    /// your behalf.
    pub source_ip: Option<IpAddr>,
    /// Whether the request arrived over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

impl Origin {
    /// A handler's call that stays in the process: no address, and secure
    /// (it crosses no network; a function's SDK calls on AWS go over
    /// HTTPS, so a policy denying insecure transport must not refuse it).
    pub const IN_PROCESS: Origin = Origin { source_ip: None, secure_transport: true };
}

/// Who signed a request, as IAM names it.
#[derive(Debug)]
pub struct Principal {
    /// The IAM user name (`aws:username`).
    pub name: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// `None`: an administrator; `Some`: only what these allow.
    pub policies: Option<Arc<Vec<Policy>>>,
    /// The role a handler's session assumed (`arn:aws:iam::...:role/...`),
    /// which a resource-based policy may name instead of the session.
    pub role_arn: Option<String>,
}

/// One authorization a request needs: an action on a resource, with the
/// request's condition keys.
#[derive(Debug, Clone)]
pub struct Check {
    pub action: String,
    pub resource: String,
    pub context: Context,
    /// The resource's resource-based policy, if it has one.
    pub resource_policy: Option<Arc<Policy>>,
}

impl Check {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Check {
        Check { action: action.into(), resource: resource.into(), context: Context::default(), resource_policy: None }
    }

    pub fn with(mut self, key: &str, values: Vec<String>) -> Check {
        self.context.set(key, values);
        self
    }
}

/// A check that failed: what AWS's `AccessDeniedException` says.
#[derive(Debug, Clone)]
pub struct Denial {
    pub message: String,
}

impl Principal {
    /// Runs every check (each with the principal's own keys and the
    /// request's global keys added, `origin` telling where it came from);
    /// the first that fails is the answer. An administrator's checks
    /// consult only resource-based policies, for an explicit deny.
    pub fn authorize(&self, checks: Vec<Check>, region: &str, origin: &Origin) -> Result<(), Denial> {
        for mut check in checks {
            // DynamoDB lets the account's root remove a table's policy even
            // when the policy denies it, so that no one is locked out; a
            // handler's role session is not the root.
            if self.policies.is_none()
                && (check.resource_policy.is_none()
                    || (check.action == "dynamodb:DeleteResourcePolicy" && self.role_arn.is_none()))
            {
                continue;
            }
            self.principal_keys(&mut check.context);
            global_keys(&mut check.context, region, origin);
            let identity = match &self.policies {
                Some(policies) => policy::evaluate(policies, &check.action, &check.resource, &check.context),
                None => Decision::Allowed,
            };
            let resource = match &check.resource_policy {
                Some(rp) => {
                    let mut callers = vec![self.arn.as_str()];
                    // Only a role's ARN names it: a `Role` set to anything
                    // else (the account root) must not match as the role.
                    let role_prefix = format!("arn:aws:iam::{}:role/", crate::dynamodb::ACCOUNT_ID);
                    callers.extend(self.role_arn.as_deref().filter(|r| r.starts_with(&role_prefix)));
                    let account = crate::dynamodb::ACCOUNT_ID;
                    policy::evaluate_resource(rp, &callers, account, &check.action, &check.resource, &check.context)
                }
                None => Decision::ImplicitDeny,
            };
            // An explicit deny in either wins; then an allow in either.
            let why = match (identity, resource) {
                (_, Decision::ExplicitDeny) => messages::request::DENIED_BY_RESOURCE_POLICY.to_string(),
                (Decision::ExplicitDeny, _) => messages::request::DENIED_BY_IDENTITY_POLICY.to_string(),
                (Decision::Allowed, _) | (_, Decision::Allowed) => continue,
                _ => messages::request::no_policy_allows(&check.action),
            };
            return Err(Denial {
                message: messages::request::not_authorized_because(&self.arn, &check.action, &check.resource, why),
            });
        }
        Ok(())
    }

    /// The keys that name the principal.
    fn principal_keys(&self, context: &mut Context) {
        match &self.role_arn {
            // A role's session, as IAM describes one: no user name; the
            // role is the principal ARN; the id is `role:session`.
            Some(role) => {
                // The role as its session's ARN names it (a listed role by
                // name, an unlisted one by its whole path: `role_principal`).
                let role_name = self
                    .arn
                    .split_once(":assumed-role/")
                    .and_then(|(_, rest)| rest.rsplit_once('/'))
                    .map_or_else(|| role.rsplit('/').next().unwrap_or(role), |(role, _)| role);
                context.set("aws:userid", vec![format!("{}:{}", unique_id("AROA", role_name), self.name)]);
                context.set("aws:principalarn", vec![role.clone()]);
                context.set("aws:principaltype", vec!["AssumedRole".into()]);
            }
            None => {
                context.set("aws:username", vec![self.name.clone()]);
                context.set("aws:userid", vec![unique_id("AIDA", &self.name)]);
                context.set("aws:principalarn", vec![self.arn.clone()]);
                context.set("aws:principaltype", vec!["User".into()]);
            }
        }
    }
}

/// An IAM unique id as IAM forms one (`AIDA` for a user, `AROA` for a
/// role, then 17 characters): IAM draws them at random when it makes the
/// identity; here they are derived from its name, so one stays the same
/// across restarts and auth files.
pub fn unique_id(prefix: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(prefix.len() + 17);
    out.push_str(prefix);
    out.extend(digest.iter().take(17).map(|b| ALPHABET[usize::from(b % 32)] as char));
    out
}

/// The global keys of every request: the one account is both the
/// principal's and the resource's (`aws:PrincipalAccount`,
/// `aws:ResourceAccount`, which IAM sets on every signed request); the
/// region, the transport and the time.
fn global_keys(context: &mut Context, region: &str, origin: &Origin) {
    let account = crate::dynamodb::ACCOUNT_ID;
    context.set("aws:principalaccount", vec![account.to_string()]);
    context.set("aws:resourceaccount", vec![account.to_string()]);
    context.set("aws:requestedregion", vec![region.to_string()]);
    context.set("aws:securetransport", vec![origin.secure_transport.to_string()]);
    if let Some(ip) = origin.source_ip {
        // An IPv4 client through an IPv6 socket is its IPv4 address.
        context.set("aws:sourceip", vec![ip.to_canonical().to_string()]);
    }
    let now = std::time::SystemTime::now();
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    context.set("aws:epochtime", vec![secs.to_string()]);
    // `2026-12-04T10:00:00Z`, from SigV4's basic form.
    let b = crate::http::sigv4::format_time(now);
    let iso = format!("{}-{}-{}T{}:{}:{}Z", &b[0..4], &b[4..6], &b[6..8], &b[9..11], &b[11..13], &b[13..15]);
    context.set("aws:currenttime", vec![iso]);
}

/// A principal shared by every request its key signs.
pub type SharedPrincipal = Arc<Principal>;
