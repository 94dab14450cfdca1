//! A remote URL's query may carry an API key: it must not reach logs, errors or Debug output.

use toolhive_core::ProxyConfig;

use crate::support::*;

const SECRET: &str = "sk-live-SECRET-0123456789";

#[tokio::test]
async fn query_secrets_stay_out_of_logs_errors_and_debug() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let m = manager();
    let remote = format!("http://127.0.0.1:{port}/mcp?api_key={SECRET}");
    let p = proxy(&m, &remote, |_| {}).await;
    let resp = post(p.url(), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None).await;
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(!body.contains(SECRET), "{body}");
    p.stop().await;
    for line in p.logs() {
        assert!(!line.message.contains(SECRET), "{line}");
    }
    assert!(!format!("{p:?}").contains(SECRET));
    assert!(!format!("{m:?}").contains(SECRET));

    let err = ProxyConfig::new(format!("http://exa mple.com/mcp?api_key={SECRET}"))
        .validate()
        .unwrap_err();
    assert!(!err.to_string().contains(SECRET), "{err}");
    let err = ProxyConfig::new(format!("ftp://h/mcp?api_key={SECRET}"))
        .validate()
        .unwrap_err();
    assert!(!err.to_string().contains(SECRET), "{err}");
}
