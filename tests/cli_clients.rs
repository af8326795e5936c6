//! `dc-gateway clients` and `dc-gateway audit` against a database in a temporary directory.

use std::process::{Command, Output};

fn run(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(args)
        .env("DCGW__SERVER__DATA_DIR", data)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn add_list_remove_and_the_audit_trail() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let o = run(
        d,
        &[
            "clients",
            "add",
            "--client-id",
            "sp.example",
            "--redirect-uri",
            "https://sp.example/cb",
            "--require-pkce",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = out(&o);
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret printed");
    assert!(secret.len() >= 43);
    // The secret is not stored in clear anywhere in the database.
    let db = std::fs::read(d.join("dc-gateway.db")).expect("db");
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let again = run(
        d,
        &[
            "clients",
            "add",
            "--client-id",
            "sp.example",
            "--redirect-uri",
            "https://sp.example/cb",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let bad = run(
        d,
        &[
            "clients",
            "add",
            "--client-id",
            "x y",
            "--redirect-uri",
            "https://sp.example/cb",
        ],
    );
    assert!(!bad.status.success());
    let bad = run(
        d,
        &[
            "clients",
            "add",
            "--client-id",
            "sp2",
            "--redirect-uri",
            "http://sp.example/cb",
        ],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be https"));

    let list = out(&run(d, &["clients", "list"]));
    assert!(
        list.starts_with("sp.example\tpkce=required\taccess_ttl=3600"),
        "{list}"
    );
    assert!(
        run(d, &["clients", "remove", "--client-id", "sp.example"])
            .status
            .success()
    );
    assert!(out(&run(d, &["clients", "list"])).is_empty());
    assert!(
        !run(d, &["clients", "remove", "--client-id", "sp.example"])
            .status
            .success()
    );

    let audit = out(&run(d, &["audit", "--json"]));
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json line")["action"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(actions, vec!["client_remove", "client_add"]);
}
