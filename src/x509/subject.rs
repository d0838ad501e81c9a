//! The subject of a certificate as the MONGODB-X509 user name: RFC 2253 form, as mongod derives
//! it and as `openssl x509 -noout -subject -nameopt RFC2253` prints it. The certificate is
//! parsed with `x509-cert`; only the string form is this crate's.

use std::fmt::Write as _;
use std::time::SystemTime;

use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::{Decode, Encode, Tag, Tagged};

use crate::error::{Result, TlsError};

/// The largest certificate this parser reads: real ones are a few kilobytes.
const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// The subject of a DER certificate in RFC 2253 form: the last RDN first, `,` between RDNs, `+`
/// inside a multi-valued one, OpenSSL's short attribute names (`CN`, `OU`, `emailAddress`, ...),
/// and the dotted OID with `#` and the hex DER value for an attribute without one.
///
/// ```
/// use mongodb_auth::x509::certificate_subject;
///
/// let mut params = rcgen::CertificateParams::default();
/// params.distinguished_name = rcgen::DistinguishedName::new();
/// params.distinguished_name.push(rcgen::DnType::CountryName, "IS");
/// params.distinguished_name.push(rcgen::DnType::OrganizationName, "MongoDB");
/// params.distinguished_name.push(rcgen::DnType::CommonName, "client, the first");
/// let key = rcgen::KeyPair::generate()?;
/// let cert = params.self_signed(&key)?;
/// assert_eq!(certificate_subject(cert.der())?, "CN=client\\, the first,O=MongoDB,C=IS");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn certificate_subject(der: &[u8]) -> Result<String> {
    rfc2253(parse(der)?.tbs_certificate().subject())
}

/// The issuer of a DER certificate, in the RFC 2253 form of [`certificate_subject`]: what a
/// person needs to find the certificate authority that is missing from a trust store.
pub fn certificate_issuer(der: &[u8]) -> Result<String> {
    rfc2253(parse(der)?.tbs_certificate().issuer())
}

/// The validity of a DER certificate: its `notBefore` and `notAfter` times.
pub fn certificate_validity(der: &[u8]) -> Result<(SystemTime, SystemTime)> {
    let certificate = parse(der)?;
    let validity = certificate.tbs_certificate().validity();
    Ok((
        validity.not_before.to_system_time(),
        validity.not_after.to_system_time(),
    ))
}

fn parse(der: &[u8]) -> Result<Certificate> {
    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(invalid("the certificate is larger than 64 KiB"));
    }
    Certificate::from_der(der).map_err(|e| invalid(&e.to_string()))
}

fn rfc2253(name: &x509_cert::name::Name) -> Result<String> {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    // OpenSSL's RFC 2253 output reverses the whole list of attributes, multi-valued RDNs included.
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let attributes: Vec<_> = rdn.iter().collect();
        for (j, attribute) in attributes.iter().rev().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attribute)?;
        }
    }
    Ok(out)
}

fn invalid(rule: &str) -> crate::Error {
    TlsError::InvalidCertificate {
        rule: rule.to_owned(),
    }
    .into()
}

/// OpenSSL's short names for the attributes certificates carry.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

fn write_attribute(out: &mut String, attribute: &AttributeTypeAndValue) -> Result<()> {
    let oid = attribute.oid.to_string();
    let value = &attribute.value;
    match (short_name(&oid), decode_string(value.tag(), value.value())) {
        (Some(name), Some(text)) => {
            out.push_str(name);
            out.push('=');
            escape_into(out, &text);
        }
        (name, _) => {
            // No name or not a string: the dotted OID (or name) and the value's DER in hex.
            out.push_str(name.unwrap_or(&oid));
            out.push_str("=#");
            let der = value.to_der().map_err(|e| invalid(&e.to_string()))?;
            for byte in der {
                let _ = write!(out, "{byte:02X}");
            }
        }
    }
    Ok(())
}

/// The text of a directory string, by its ASN.1 type.
fn decode_string(tag: Tag, bytes: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String => String::from_utf8(bytes.to_vec()).ok(),
        Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        // T.61 as OpenSSL reads it: one byte a character.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|pair| match pair {
                    [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 section 2.4: `,+"\<>;` escaped, a leading `#` or space and a trailing space
/// escaped, control characters as `\XX`.
fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_into(&mut out, "#a, b+c\"d\\e<f>g;h ");
        assert_eq!(out, "\\#a\\, b\\+c\\\"d\\\\e\\<f\\>g\\;h\\ ");
        let mut out = String::new();
        escape_into(&mut out, " x\u{1}");
        assert_eq!(out, "\\ x\\01");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [&b""[..], b"\x30", b"\x30\x82\xff\xff", &[0u8; 100]] {
            assert!(certificate_subject(input).is_err());
        }
        assert!(certificate_subject(&vec![0x30; MAX_CERTIFICATE_LEN + 1]).is_err());
    }
}
