//! URLs as they may appear in logs and errors: a remote URL's query string can carry API keys
//! (some servers take `?api_key=`), so only scheme, host, port and path are ever shown.

use url::Url;

/// `https://host:port/path` plus `?…` when a query was dropped.
pub(crate) fn url(url: &Url) -> String {
    let mut shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// Like [`url`] for text that may not even parse: cut at the first `?` or `#`, drop userinfo.
pub(crate) fn url_str(raw: &str) -> String {
    let cut = raw.find(['?', '#']).map_or(raw, |i| &raw[..i]);
    let cut = match (cut.find("://"), cut.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &cut[..scheme_end + 3], &cut[at + 1..])
        }
        _ => cut.to_owned(),
    };
    if cut.len() < raw.len() && !raw.contains('@') {
        format!("{cut}?…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_credentials_never_shown() {
        let u = Url::parse("https://user:pw@h.example/mcp?api_key=SECRET").unwrap();
        assert_eq!(url(&u), "https://h.example/mcp?…");
        assert_eq!(url_str("https://h/mcp?api_key=SECRET"), "https://h/mcp?…");
        assert_eq!(url_str("https://user:SECRET@h/mcp"), "https://h/mcp");
        assert!(!url_str("ht!tp://u:SECRET@h/x?k=SECRET").contains("SECRET"));
    }
}
