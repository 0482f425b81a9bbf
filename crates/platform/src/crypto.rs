//! Field-level encryption for personal data (ID numbers, phones): AES-256-GCM with a random nonce
//! per value, and a keyed HMAC-SHA256 "blind index" so an exact value can be found without
//! decrypting every row. Both keys derive from one 256-bit master key that comes from configuration
//! (an environment variable or a key file beside the configuration), never from the database: a copy
//! of the database alone reveals nothing.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Base64 (standard alphabet) for binary attachments that the slices store as text.
pub fn base64_encode(data: &[u8]) -> String {
    B64.encode(data)
}

/// The bytes of a stored base64 attachment; `None` when the text is not base64 (a damaged row).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("字段密钥应为 64 位十六进制字符（256 位）")]
    BadKey,
    #[error("密文无法解密：密钥不符或数据已损坏")]
    Decrypt,
    #[error("密钥文件 {0} 无法读写：{1}")]
    KeyFile(String, String),
}

pub struct FieldCipher {
    aead: Aes256Gcm,
    index_key: [u8; 32],
}

fn derive(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl FieldCipher {
    pub fn from_master(master: &[u8; 32]) -> Self {
        let enc = derive(master, "jiceng field encryption v1");
        Self { aead: Aes256Gcm::new((&enc).into()), index_key: derive(master, "jiceng blind index v1") }
    }

    pub fn from_hex(hex_key: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CryptoError::BadKey)?;
        let master: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self::from_master(&master))
    }

    /// Reads the key file, creating it (mode 0600) with a fresh random key when it does not exist.
    pub fn from_key_file(path: &std::path::Path) -> Result<(Self, bool), CryptoError> {
        let err = |e: std::io::Error| CryptoError::KeyFile(path.display().to_string(), e.to_string());
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(err)?;
            return Ok((Self::from_hex(&text)?, false));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let key: [u8; 32] = rand::random();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        opts.open(path).and_then(|mut f| f.write_all(format!("{}\n", hex::encode(key)).as_bytes())).map_err(err)?;
        Ok((Self::from_master(&key), true))
    }

    /// `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn encrypt(&self, plain: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::random();
        let ct = self.aead.encrypt(Nonce::from_slice(&nonce_bytes), plain.as_bytes()).unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", B64.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let raw = B64.decode(stored.strip_prefix("v1:").ok_or(CryptoError::Decrypt)?).map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self.aead.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }

    /// Keyed hash of a normalised value, separated by field kind so equal strings in different
    /// fields do not match.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces_and_tamper_detection() {
        let c = FieldCipher::from_master(&[7; 32]);
        let a = c.encrypt("11010519491231002X");
        let b = c.encrypt("11010519491231002X");
        assert_ne!(a, b, "random nonce per value");
        assert!(!a.contains("1101051949"));
        assert_eq!(c.decrypt(&a).unwrap(), "11010519491231002X");
        let mut bad = a.clone();
        bad.replace_range(10..11, if &a[10..11] == "A" { "B" } else { "A" });
        assert!(c.decrypt(&bad).is_err());
        let other = FieldCipher::from_master(&[8; 32]);
        assert!(other.decrypt(&a).is_err(), "another key cannot read it");
    }

    #[test]
    fn blind_index_is_deterministic_keyed_and_kind_separated() {
        let c = FieldCipher::from_master(&[7; 32]);
        assert_eq!(c.blind_index("id", "X"), c.blind_index("id", "X"));
        assert_ne!(c.blind_index("id", "X"), c.blind_index("phone", "X"));
        assert_ne!(c.blind_index("id", "X"), FieldCipher::from_master(&[8; 32]).blind_index("id", "X"));
        assert!(FieldCipher::from_hex("abc").is_err());
    }
}
