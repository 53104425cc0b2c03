//! The users file of `tarn serve`: who may connect, with which password, in which workgroup and with which role.
//!
//! ```toml
//! [workgroups.marketing]
//! bytes_per_query = "10GB"     # a query that would scan more is cancelled (Athena's per-query data usage control)
//! bytes_per_day = "1TB"        # once the workgroup scanned this today (UTC), its queries are refused until tomorrow
//!
//! [users.analyst]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from `tarn passwd`; never the password itself
//! workgroup = "marketing"
//! role = "read-only"           # or "read-write" (CTAS, INSERT, DDL, Delta DML, CRAWL)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ReadOnly,
    ReadWrite,
}

#[derive(Debug, Clone, Default)]
pub struct Workgroup {
    pub name: String,
    pub bytes_per_query: Option<u64>,
    pub bytes_per_day: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// The argon2 hash (PHC string) of the password.
    password: String,
    pub workgroup: Workgroup,
    pub role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkgroup {
    bytes_per_query: Option<String>,
    bytes_per_day: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    password: String,
    workgroup: Option<String>,
    role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    workgroups: BTreeMap<String, FileWorkgroup>,
    #[serde(default)]
    users: BTreeMap<String, FileUser>,
}

/// The workgroup of users that name none, without limits (Athena's `primary`).
pub const PRIMARY: &str = "primary";

#[derive(Debug)]
pub struct Users {
    users: BTreeMap<String, User>,
}

impl Users {
    /// Reads and checks the users file; the error names the file and, where it can, the line and the key.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        let mut workgroups = BTreeMap::new();
        workgroups.insert(
            PRIMARY.to_string(),
            Workgroup {
                name: PRIMARY.into(),
                ..Default::default()
            },
        );
        for (name, w) in file.workgroups {
            let size = |what: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|s| tarn_engine::parse_size(s).map_err(|e| format!("workgroups.{name}.{what}: {e}")))
                    .transpose()
            };
            let workgroup = Workgroup {
                bytes_per_query: size("bytes_per_query", &w.bytes_per_query)?,
                bytes_per_day: size("bytes_per_day", &w.bytes_per_day)?,
                name: name.clone(),
            };
            workgroups.insert(name, workgroup);
        }
        let mut users = BTreeMap::new();
        for (name, u) in file.users {
            PasswordHash::new(&u.password).map_err(|e| {
                format!(
                    "users.{name}.password: not an argon2 hash ({e}); write the output of `tarn passwd` there, never \
                     the password itself"
                )
            })?;
            let group = u.workgroup.unwrap_or_else(|| PRIMARY.into());
            let workgroup = workgroups.get(&group).cloned().ok_or_else(|| {
                format!("users.{name}.workgroup: no workgroup '{group}'; add a [workgroups.{group}] section")
            })?;
            users.insert(
                name.clone(),
                User {
                    name,
                    password: u.password,
                    workgroup,
                    role: u.role,
                },
            );
        }
        if users.is_empty() {
            return Err("no [users.<name>] section: nobody could connect".into());
        }
        Ok(Self { users })
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The user named `name` if `password` is theirs. An unknown user costs a hash like a known one, so the time
    /// taken does not tell which names exist.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<&User> {
        match self.users.get(name) {
            Some(user) => verify(&user.password, password).then_some(user),
            None => {
                let _ = hash_password(password);
                None
            }
        }
    }
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The argon2id hash (PHC string) of `password`, with a random salt: what the users file keeps.
pub fn hash_password(password: &str) -> Result<String, String> {
    // 16 bytes from the operating system's generator (what a v4 UUID is made of).
    let salt =
        SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|e| format!("cannot make a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_checked_and_passwords_verified() -> Result<(), String> {
        let hash = hash_password("s3cret")?;
        let users = Users::parse(&format!(
            "[workgroups.marketing]\nbytes_per_query = \"10MB\"\nbytes_per_day = \"1GB\"\n\n\
             [users.analyst]\npassword = \"{hash}\"\nworkgroup = \"marketing\"\nrole = \"read-only\"\n"
        ))?;
        let analyst = users.authenticate("analyst", "s3cret").ok_or("not authenticated")?;
        assert_eq!(analyst.role, Role::ReadOnly);
        assert_eq!(analyst.workgroup.bytes_per_query, Some(10 << 20));
        assert_eq!(analyst.workgroup.bytes_per_day, Some(1 << 30));
        assert!(users.authenticate("analyst", "wrong").is_none());
        assert!(users.authenticate("nobody", "s3cret").is_none());

        let plain = Users::parse("[users.a]\npassword = \"hunter2\"\nrole = \"read-write\"\n");
        assert!(plain.is_err_and(|e| e.contains("users.a.password: not an argon2 hash") && !e.contains("hunter2")));
        let group = Users::parse(&format!(
            "[users.a]\npassword = \"{hash}\"\nworkgroup = \"x\"\nrole = \"read-write\"\n"
        ));
        assert!(group.is_err_and(|e| e.contains("no workgroup 'x'")));
        let role = Users::parse(&format!("[users.a]\npassword = \"{hash}\"\nrole = \"admin\"\n"));
        assert!(role.is_err_and(|e| e.starts_with("line 3")), "the line of the bad role");
        Ok(())
    }
}
