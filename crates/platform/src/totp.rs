//! TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), required for the three admin roles.

use hmac::{Hmac, Mac};
use sha1::Sha1;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh 160-bit secret in base32, the form authenticator apps accept.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    base32_encode(&bytes)
}

pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = ALPHABET.iter().position(|&a| a as char == c.to_ascii_uppercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The code for a given 30-second step.
pub fn code_at(secret_b32: &str, step: i64) -> Option<String> {
    let key = base32_decode(secret_b32)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = ((h[off] as u32 & 0x7f) << 24) | ((h[off + 1] as u32) << 16) | ((h[off + 2] as u32) << 8) | h[off + 3] as u32;
    Some(format!("{:06}", bin % 1_000_000))
}

/// The code shown by an authenticator at `now_ms`.
pub fn current_code(secret_b32: &str, now_ms: i64) -> Option<String> {
    code_at(secret_b32, now_ms.div_euclid(30_000))
}

/// Accepts the current step and one either side, for clock drift on phones.
pub fn verify(secret_b32: &str, code: &str, now_ms: i64) -> bool {
    let code = code.trim();
    if code.len() != 6 {
        return false;
    }
    let step = now_ms.div_euclid(30_000);
    (-1..=1).any(|d| code_at(secret_b32, step + d).as_deref() == Some(code))
}

/// `otpauth://` URI for authenticator apps.
pub fn provisioning_uri(secret_b32: &str, username: &str) -> String {
    format!("otpauth://totp/jiceng:{username}?secret={secret_b32}&issuer=jiceng&algorithm=SHA1&digits=6&period=30")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, secret "12345678901234567890", 8-digit codes truncated to 6.
        let secret = base32_encode(b"12345678901234567890");
        assert_eq!(code_at(&secret, 59 / 30).as_deref(), Some("287082"));
        assert_eq!(code_at(&secret, 1_111_111_109 / 30).as_deref(), Some("081804"));
        assert_eq!(code_at(&secret, 20_000_000_000 / 30).as_deref(), Some("353130"));
    }

    #[test]
    fn codes_from_another_window_are_refused() {
        let s = new_secret();
        let now = 1_800_000_000_000;
        let good = current_code(&s, now).expect("code");
        assert!(verify(&s, &good, now + 29_000));
        assert!(!verify(&s, &good, now + 120_000));
        assert_eq!(base32_decode(&s).map(|b| b.len()), Some(20));
    }
}
