//! Salted password hashes: Argon2id (RFC 9106) in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`), so each stored hash
//! carries its own salt and cost and verification reads them from it.
//!
//! The cost of a hash is the cost of a login: with the default (OWASP's
//! minimum for Argon2id: 19 MiB, 2 passes, 1 lane) one verification takes
//! tens of milliseconds of one core, which bounds the logins a broker can
//! check per second (`exhook-db-bench` prints it). Devices that log in
//! with long random secrets gain nothing from a slow hash and can be added
//! with a lower cost (`exhook-db add-user --memory-kib 1024 --iterations 1`);
//! both kinds verify side by side.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{CustomizedPasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over that memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Cost {
    /// OWASP's minimum recommendation for Argon2id.
    fn default() -> Cost {
        Cost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The largest cost a stored hash may ask of a login: a hash with more is
/// refused rather than letting one row make every login allocate gigabytes.
pub const MAX_COST: Cost = Cost {
    memory_kib: 256 * 1024,
    iterations: 16,
    parallelism: 8,
};

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &[u8], cost: Cost) -> Result<String, String> {
    let params = params(cost)?;
    let salt =
        argon2::password_hash::try_generate_salt().map_err(|e| format!("no random salt: {e}"))?;
    Argon2::default()
        .hash_password_customized(password, &salt, None, None, params)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

fn params(cost: Cost) -> Result<Params, String> {
    if cost.memory_kib > MAX_COST.memory_kib
        || cost.iterations > MAX_COST.iterations
        || cost.parallelism > MAX_COST.parallelism
    {
        return Err(format!("cost {cost:?} is above the limit {MAX_COST:?}"));
    }
    Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| format!("argon2 parameters {cost:?}: {e}"))
}

/// Whether `password` matches `stored`; `Err` when `stored` is not a hash
/// this handler accepts (not Argon2id, malformed, or above [`MAX_COST`]).
pub fn verify(password: &[u8], stored: &str) -> Result<bool, String> {
    let parsed = PasswordHash::new(stored).map_err(|e| format!("stored hash: {e}"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    if algorithm != Algorithm::Argon2id {
        return Err(format!(
            "stored hash uses {}, not argon2id",
            parsed.algorithm
        ));
    }
    let stored_params = Params::try_from(&parsed).map_err(|e| format!("stored hash: {e}"))?;
    params(Cost {
        memory_kib: stored_params.m_cost(),
        iterations: stored_params.t_cost(),
        parallelism: stored_params.p_cost(),
    })?;
    let verifier = Argon2::new(algorithm, Version::V0x13, stored_params);
    match verifier.verify_password(password, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(format!("verification failed: {e}")),
    }
}

/// A hash of nothing at the default cost: an unknown username is checked
/// against it so that it takes as long to refuse as a wrong password and
/// the timing does not tell which usernames exist.
const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZS1kZWNveS1zYWx0$GfX1Czc3LIiv0t1iijc4D9jW/DHP9dlzmYM7pqDJbN4";

/// Spends what a verification at the default cost spends, and fails.
pub fn decoy_verify(password: &[u8]) {
    let _ = verify(password, DECOY);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Cost {
        Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn a_hash_verifies_its_password_only_and_is_salted() {
        let a = hash(b"s3cret", cheap()).unwrap();
        let b = hash(b"s3cret", cheap()).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert_eq!(verify(b"s3cret", &a), Ok(true));
        assert_eq!(verify(b"s3cret!", &a), Ok(false));
        assert_eq!(verify(b"", &a), Ok(false));
    }

    #[test]
    fn malformed_foreign_or_too_costly_hashes_are_errors() {
        assert!(verify(b"x", "plain-text-password").is_err());
        let argon2i = "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$Rl1yvY7zw4kTrdvpS2Vg9A";
        assert!(verify(b"x", argon2i).is_err());
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$Rl1yvY7zw4kTrdvpS2Vg9A";
        let e = verify(b"x", huge).unwrap_err();
        assert!(e.contains("limit"), "{e}");
        assert!(hash(
            b"x",
            Cost {
                memory_kib: 1 << 30,
                ..cheap()
            }
        )
        .is_err());
    }

    #[test]
    fn the_decoy_is_a_default_cost_argon2id_hash() {
        let decoy = PasswordHash::new(DECOY).unwrap();
        let p = Params::try_from(&decoy).unwrap();
        let default = Cost::default();
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (default.memory_kib, default.iterations, default.parallelism)
        );
        assert_eq!(verify(b"anything", DECOY), Ok(false));
    }
}
