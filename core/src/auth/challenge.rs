//! `WWW-Authenticate` parsing (RFC 7235): several challenges per header, case-insensitive
//! schemes and parameter names, quoted strings with escapes, token68. ToolHive matches
//! substrings here, which misreads `scope="a resource_metadata"` and friends.

/// One challenge: `Bearer realm="x", scope="a b"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The scheme, lower-cased (`bearer`).
    pub scheme: String,
    /// Parameters with lower-cased names, values unquoted.
    pub params: Vec<(String, String)>,
    /// A token68 credential-like value instead of parameters (rare in challenges).
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every challenge in one or more `WWW-Authenticate` header values. Malformed input yields
/// what could be read, never a panic.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values.into_iter().flat_map(parse_one).collect()
}

/// The `Bearer` challenge, if the remote sent one.
pub fn bearer(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges.iter().find(|c| c.scheme == "bearer")
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> String {
        let start = self.i;
        while self.peek().is_some_and(&pred) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A quoted string starting at `"`, with `\x` escapes; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.i += 1;
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn parse_one(header: &str) -> Vec<Challenge> {
    let mut c = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        c.skip_ws_and_commas();
        if c.peek().is_none() {
            break;
        }
        let scheme = c.take_while(is_tchar);
        if scheme.is_empty() {
            c.i += 1; // not a token character: skip it
            continue;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            ..Default::default()
        };
        let mut first = true;
        loop {
            let item_start = c.i;
            c.skip_ws();
            let name = c.take_while(is_token68);
            if name.is_empty() {
                break;
            }
            let after_name = c.i;
            c.skip_ws();
            if c.peek() == Some(b'=') {
                let mut j = c.i;
                while c.s.get(j) == Some(&b'=') {
                    j += 1;
                }
                let rest_empty = matches!(c.s.get(j), None | Some(b',' | b' ' | b'\t'));
                if first && (rest_empty && (j - c.i > 1 || c.s.get(j).is_none())) {
                    // `Scheme abc==`: a token68.
                    challenge.token68 = Some(format!("{name}{}", "=".repeat(j - c.i)));
                    c.i = j;
                    break;
                }
                c.i += 1;
                c.skip_ws();
                let value = if c.peek() == Some(b'"') {
                    c.quoted()
                } else {
                    c.take_while(|b| !matches!(b, b',' | b' ' | b'\t'))
                };
                challenge.params.push((name.to_ascii_lowercase(), value));
                first = false;
                c.skip_ws();
                if c.peek() == Some(b',') {
                    c.i += 1;
                    continue;
                }
                break;
            }
            if first && after_name > item_start {
                // `Scheme token68` (no `=`), unless it is the next challenge's scheme.
                c.skip_ws();
                if matches!(c.peek(), None | Some(b',')) {
                    challenge.token68 = Some(name);
                    break;
                }
            }
            // A bare token after parameters: the next challenge starts here.
            c.i = item_start;
            break;
        }
        out.push(challenge);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(h: &str) -> Vec<Challenge> {
        parse([h])
    }

    #[test]
    fn bare_and_parameterised_bearer() {
        let c = one("Bearer");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert!(c[0].params.is_empty());

        let c = one(
            r#"bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
        );
        assert_eq!(
            c[0].param("resource_metadata"),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c[0].param("SCOPE"), Some("files:read files:write"));
    }

    #[test]
    fn several_challenges_escapes_and_case() {
        let c = one(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", BASIC realm="simple", Bearer error="insufficient_scope", scope="a b""#,
        );
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c[0].scheme, "newauth");
        assert_eq!(c[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(c[0].param("type"), Some("1"));
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].param("realm"), Some("simple"));
        let b = bearer(&c).unwrap();
        assert_eq!(b.param("error"), Some("insufficient_scope"));
        assert_eq!(b.param("scope"), Some("a b"));
        // Values that merely mention a parameter name are not that parameter.
        let c = one(r#"Bearer realm="resource_metadata=https://evil/""#);
        assert_eq!(c[0].param("resource_metadata"), None);
    }

    #[test]
    fn token68_and_separate_header_values() {
        assert_eq!(
            one("Negotiate abc123==")[0].token68.as_deref(),
            Some("abc123==")
        );
        assert_eq!(
            one("Negotiate abc123")[0].token68.as_deref(),
            Some("abc123")
        );
        let c = parse(["Basic realm=x", "Bearer scope=read"]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].param("scope"), Some("read"));
        let c = one("Bearer, Basic realm=x");
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["bearer", "basic"]
        );
    }

    #[test]
    fn malformed_input_never_panics() {
        for h in [
            "",
            ",,,",
            "=",
            "Bearer =",
            "Bearer realm=\"unterminated",
            "Bearer a=\"\\",
            "Bearer ==,=",
            "\u{0}\u{1}Bearer",
            "Bearer realm",
            "Bearer realm=, scope",
            "€ Bearer x=y",
        ] {
            let _ = one(h);
        }
        assert_eq!(
            one(r#"Bearer realm="unterminated"#)[0].param("realm"),
            Some("unterminated")
        );
        assert_eq!(
            one("€ Bearer x=y")
                .iter()
                .find(|c| c.scheme == "bearer")
                .unwrap()
                .param("x"),
            Some("y")
        );
    }
}
