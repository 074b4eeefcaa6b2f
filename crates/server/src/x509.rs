//! Just enough DER to read a certificate's subject name, for mapping a
//! verified client certificate (mutual TLS) to a sender system. The
//! certificate has been verified by rustls before it gets here; this code
//! still never panics on any input and returns `None` for anything odd.

/// The subject as `CN=…,OU=…,O=…` in the order the certificate lists it.
pub fn subject(der: &[u8]) -> Option<String> {
    let (cert, _) = tlv(der, 0x30)?;
    let (tbs, _) = tlv(cert, 0x30)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest, 0xa0)?.1;
    }
    rest = tlv(rest, 0x02)?.1; // serialNumber
    rest = tlv(rest, 0x30)?.1; // signature algorithm
    rest = tlv(rest, 0x30)?.1; // issuer
    rest = tlv(rest, 0x30)?.1; // validity
    let (name, _) = tlv(rest, 0x30)?; // subject
    let mut parts = Vec::new();
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, after) = tlv(rdns, 0x31)?;
        rdns = after;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, after) = tlv(atvs, 0x30)?;
            atvs = after;
            let (oid, value) = tlv(atv, 0x06)?;
            let (&tag, _) = value.split_first()?;
            let (text, _) = tlv(value, tag)?;
            let text = match tag {
                // UTF8String, PrintableString, IA5String, TeletexString (as Latin-1)
                0x0c | 0x13 | 0x16 => std::str::from_utf8(text).ok()?.to_owned(),
                0x14 => text.iter().map(|&b| char::from(b)).collect(),
                _ => return None,
            };
            parts.push(format!("{}={}", name_of(oid)?, text));
        }
    }
    Some(parts.join(","))
}

fn name_of(oid: &[u8]) -> Option<String> {
    // 2.5.4.x is encoded 55 04 x.
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x05] => "SERIALNUMBER".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x55, 0x04, 0x61] => "ORGANIZATIONIDENTIFIER".into(),
        other => format!(
            "OID.{}",
            other.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    })
}

/// One tag-length-value with the expected tag: (contents, rest).
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, after) = (rest.get(..n)?, rest.get(n..)?);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_panics_on_garbage() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x30\x01\x00",
        ] {
            assert_eq!(subject(input), None);
        }
        for n in 0..300u32 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            let _ = subject(&bytes);
        }
    }
}
