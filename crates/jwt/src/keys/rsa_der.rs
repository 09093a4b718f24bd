//! Just enough DER to find an RSA key's modulus: aws-lc does the real parsing.

/// One tag-length-value at the start of `input`: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208).
pub(super) fn pkcs1_of_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = tlv(der)? else {
        return None;
    };
    let (0x02, _version, rest) = tlv(info)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = tlv(rest)? else {
        return None;
    };
    let (0x04, key, _) = tlv(rest)? else {
        return None;
    };
    Some(key)
}

/// The size in bits of the modulus of a PKCS#1 `RSAPrivateKey` (RFC 8017 §A.1.2).
pub(super) fn modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let (0x30, key, _) = tlv(pkcs1)? else {
        return None;
    };
    let (0x02, _version, rest) = tlv(key)? else {
        return None;
    };
    let (0x02, modulus, _) = tlv(rest)? else {
        return None;
    };
    let start = modulus.iter().position(|b| *b != 0)?;
    let leading = modulus[start].leading_zeros() as usize;
    Some((modulus.len() - start) * 8 - leading)
}
