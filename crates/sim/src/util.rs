//! Small HTTP helpers: URL splitting, form and multipart decoding, credentials, escaping.

use base64::Engine as _;
use connector::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// The parts of an absolute URL the simulator routes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`, lowercased.
    pub scheme: String,
    /// Host name, lowercased, without port.
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path, starting with `/` (`/` when empty).
    pub path: String,
    /// Raw query without `?`.
    pub query: Option<String>,
    /// Raw fragment without `#`.
    pub fragment: Option<String>,
}

impl Url {
    /// Splits `scheme://[user@]host[:port]/path?query#fragment` (RFC 3986 §3, enough for the
    /// absolute http(s) URLs the connector sends).
    pub fn parse(raw: &str) -> Option<Url> {
        let (scheme, rest) = raw.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f.to_owned())),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if authority.starts_with('[') {
            // IPv6 literal: keep the brackets in the host.
            let close = authority.find(']')?;
            let (h, after) = authority.split_at(close + 1);
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p.parse::<u16>().ok()?)),
                None if after.is_empty() => (h, None),
                None => return None,
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
            query,
            fragment,
        })
    }

    /// Decoded query parameters in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(decode_form_str)
            .unwrap_or_default()
    }

    /// The URL without its fragment (what is requested and signed, twilio.md §7.5).
    pub fn without_fragment(&self) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(p) = self.port {
            out.push_str(&format!(":{p}"));
        }
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

/// Decodes `application/x-www-form-urlencoded` text (a `+` is a space, twilio.md §2.1).
/// Undecodable input yields no pairs, as a server that cannot parse the body sees none.
pub fn decode_form_str(s: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(s).unwrap_or_default()
}

/// Encodes pairs as a form body.
pub fn encode_form(pairs: &[(String, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// First value of `name` in decoded pairs.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of a repeated parameter (`StatusCallbackEvent=a&StatusCallbackEvent=b`).
pub fn params<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Media type of the request (`Content-Type` without parameters, lowercased).
pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.header_value("content-type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Value of a `Content-Type` parameter such as `boundary`.
pub fn content_type_param(req: &HttpRequest, name: &str) -> Option<String> {
    let ct = req.header_value("content-type")?;
    ct.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// HTTP Basic credentials (RFC 7617 §2).
pub fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.header_value("authorization")?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// A bearer token (RFC 6750 §2.1).
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.header_value("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Lowercase hex SHA-256: tokens and codes are stored only as hashes, so the persisted state
/// (the sandbox keeps it in the key-value store) holds no usable credential.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// PKCE S256 (RFC 7636 §4.2): `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
pub fn pkce_s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON response with the given media type.
pub fn json(status: u16, media: &str, value: &serde_json::Value) -> HttpResponse {
    HttpResponse::new(status, value.to_string().into_bytes()).header("Content-Type", media)
}

/// One part of a `multipart/form-data` body (RFC 7578).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `name` of the `Content-Disposition`.
    pub name: String,
    /// `filename` of the `Content-Disposition`, if any.
    pub filename: Option<String>,
    /// The part's own `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Raw bytes.
    pub data: Vec<u8>,
}

/// Why a multipart body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// `Content-Type` has no `boundary` parameter.
    #[error("multipart Content-Type has no boundary parameter")]
    NoBoundary,
    /// The body does not start with the boundary delimiter or ends without the close delimiter.
    #[error("multipart body is not framed by its boundary")]
    BadFraming,
    /// A part has no header/body separator or no `Content-Disposition: form-data; name=…`.
    #[error("multipart part {0} has malformed headers")]
    BadPart(usize),
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Splits a `multipart/form-data` body into parts.
pub fn multipart(req: &HttpRequest) -> Result<Vec<Part>, MultipartError> {
    let boundary = content_type_param(req, "boundary").ok_or(MultipartError::NoBoundary)?;
    let delim = format!("--{boundary}").into_bytes();
    let body = &req.body;
    let mut pos = find(body, &delim, 0).ok_or(MultipartError::BadFraming)? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        // Skip the CRLF after the delimiter.
        pos = find(body, b"\r\n", pos).ok_or(MultipartError::BadFraming)? + 2;
        let header_end =
            find(body, b"\r\n\r\n", pos).ok_or(MultipartError::BadPart(parts.len()))?;
        let headers = String::from_utf8_lossy(&body[pos..header_end]).into_owned();
        let data_start = header_end + 4;
        let mut next_delim = b"\r\n".to_vec();
        next_delim.extend_from_slice(&delim);
        let data_end = find(body, &next_delim, data_start).ok_or(MultipartError::BadFraming)?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                for attr in v.split(';').skip(1) {
                    if let Some((ak, av)) = attr.split_once('=') {
                        let av = av.trim().trim_matches('"').to_owned();
                        match ak.trim().to_ascii_lowercase().as_str() {
                            "name" => name = Some(av),
                            "filename" => filename = Some(av),
                            _ => {}
                        }
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_owned());
            }
        }
        let name = name.ok_or(MultipartError::BadPart(parts.len()))?;
        parts.push(Part {
            name,
            filename,
            content_type,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::Method;

    #[test]
    fn parses_urls() {
        let u = Url::parse("https://User:pw@Host.Example:8443/a/b?x=1&y=%2B2#rc=2").unwrap();
        assert_eq!(u.host, "host.example");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, "/a/b");
        assert_eq!(
            u.query_pairs(),
            vec![("x".into(), "1".into()), ("y".into(), "+2".into())]
        );
        assert_eq!(u.fragment.as_deref(), Some("rc=2"));
        assert_eq!(
            u.without_fragment(),
            "https://host.example:8443/a/b?x=1&y=%2B2"
        );
        assert_eq!(Url::parse("http://h").unwrap().path, "/");
        assert!(Url::parse("ftp://h/").is_none());
        assert!(Url::parse("http://h:x/").is_none());
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn splits_multipart() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.xml\"\r\nContent-Type: text/xml\r\n\r\n<a/>\r\n--XyZ--\r\n";
        let req = HttpRequest::new(Method::Post, "https://h/")
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(body.to_vec());
        let parts = multipart(&req).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "files");
        assert_eq!(parts[0].filename.as_deref(), Some("a.xml"));
        assert_eq!(parts[0].content_type.as_deref(), Some("text/xml"));
        assert_eq!(parts[0].data, b"<a/>");
    }

    #[test]
    fn reads_credentials() {
        let req = HttpRequest::new(Method::Get, "https://h/")
            .header("Authorization", "Basic dXNlcjpwYXNz");
        assert_eq!(
            basic_credentials(&req),
            Some(("user".into(), "pass".into()))
        );
        let req = HttpRequest::new(Method::Get, "https://h/").header("authorization", "Bearer abc");
        assert_eq!(bearer(&req), Some("abc"));
    }
}
