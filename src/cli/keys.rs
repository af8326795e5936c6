//! `dc-gateway keys new` and `dc-gateway sign`: tools for Service Providers (and operators
//! testing their deployment).

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::Subcommand;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an RSA key pair and print the TXT records to publish at <label>.<domain>.
    New {
        /// Directory to write `<label>.private.pem` (mode 0600) and `<label>.public.pem` into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The key label (the `key` parameter of signed requests).
        #[arg(long, default_value = "_dck1")]
        label: String,
        /// The template's syncPubKeyDomain.
        #[arg(long)]
        domain: String,
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The private key (PKCS#8 PEM, as `keys new` writes it).
    #[arg(long)]
    pub key_file: PathBuf,
    /// The key label published in DNS.
    #[arg(long, default_value = "_dck1")]
    pub key_label: String,
    /// The apply URL without a query, e.g. https://connect.example/v2/domainTemplates/providers/P/services/S/apply
    #[arg(long)]
    pub url: String,
    /// A parameter `name=value` (repeatable): domain, host, variables, redirect_uri, state...
    /// They are sorted and encoded as the PyPI client does.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Sign this raw query string as it is instead of building one from --param.
    #[arg(long, conflicts_with = "params")]
    pub query: Option<String>,
}

/// TXT records for a public key: `p=N,a=RS256,d=...` fragments under 255 octets each.
pub fn txt_fragments(public_der: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(public_der);
    b64.as_bytes()
        .chunks(200)
        .enumerate()
        .map(|(i, c)| format!("p={},a=RS256,d={}", i + 1, String::from_utf8_lossy(c)))
        .collect()
}

fn new_key(out: &std::path::Path, label: &str, domain: &str, bits: usize) -> anyhow::Result<String> {
    if label.is_empty()
        || label.contains('.')
        || !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        anyhow::bail!("label {label:?} must be one DNS label");
    }
    let domain = crate::engine::names::normalize_domain(domain).map_err(anyhow::Error::msg)?;
    if !(2048..=4096).contains(&bits) {
        anyhow::bail!("bits must be 2048 to 4096");
    }
    let private = rsa::PrivateKey::new(&mut rand::rng(), bits)?;
    let public = private.to_public_key();
    std::fs::create_dir_all(out)?;
    let priv_path = out.join(format!("{label}.private.pem"));
    let pem = private.to_pkcs8_pem(LineEnding::LF)?;
    {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut f = opts
            .open(&priv_path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", priv_path.display()))?;
        f.write_all(pem.as_bytes())?;
    }
    std::fs::write(
        out.join(format!("{label}.public.pem")),
        public.to_public_key_pem(LineEnding::LF)?,
    )?;
    let der = public.to_public_key_der()?;
    let mut text = format!(
        "; private key: {}\n; publish these TXT records (one per fragment) in the zone of {domain}:\n",
        priv_path.display()
    );
    for f in txt_fragments(der.as_bytes()) {
        text.push_str(&format!("{label}.{domain}. 3600 IN TXT \"{f}\"\n"));
    }
    Ok(text)
}

/// The query the PyPI client builds: parameters sorted by name, form-encoded.
pub fn client_query(params: &[(String, String)]) -> String {
    let mut p = params.to_vec();
    p.sort();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
}

fn sign(args: &SignArgs) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(&args.key_file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.key_file.display()))?;
    let private = rsa::PrivateKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.key_file.display()))?;
    let query = match &args.query {
        Some(q) => q.clone(),
        None => {
            let pairs = args
                .params
                .iter()
                .map(|p| p.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| anyhow::anyhow!("--param must be name=value"))?;
            client_query(&pairs)
        }
    };
    let sig = SigningKey::<Sha256>::new(private).sign(query.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_vec());
    let tail = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sig", &b64)
        .append_pair("key", &args.key_label)
        .finish();
    Ok(format!("{}?{query}&{tail}\n", args.url))
}

pub fn run_keys(cmd: &KeysCommand) -> ExitCode {
    let KeysCommand::New {
        out,
        label,
        domain,
        bits,
    } = cmd;
    match new_key(out, label, domain, *bits) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run_sign(args: &SignArgs) -> ExitCode {
    match sign(args) {
        Ok(url) => {
            print!("{url}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_new_and_sign_round_trip_through_the_verifier() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = new_key(dir.path(), "_dck1", "keys.sp.example", 2048).expect("keys");
        let records: Vec<Vec<u8>> = text
            .lines()
            .filter(|l| l.contains(" IN TXT "))
            .map(|l| l.split('"').nth(1).expect("quoted").as_bytes().to_vec())
            .collect();
        assert!(
            records.len() >= 2 && records.iter().all(|r| r.len() < 255),
            "{text}"
        );
        assert!(text.contains("_dck1.keys.sp.example. 3600 IN TXT \"p=1,a=RS256,d="));
        let public = crate::sig::parse_key_records("_dck1.keys.sp.example", &records).expect("parses back");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("_dck1.private.pem"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            new_key(dir.path(), "_dck1", "keys.sp.example", 2048).is_err(),
            "never overwrites a key"
        );

        let args = SignArgs {
            key_file: dir.path().join("_dck1.private.pem"),
            key_label: "_dck1".into(),
            url: "https://connect.example/v2/domainTemplates/providers/p/services/s/apply".into(),
            params: vec![
                "domain=example.com".into(),
                "IP=192.0.2.1".into(),
                "RANDOMTEXT=hello world".into(),
            ],
            query: None,
        };
        let url = sign(&args).expect("signed");
        let raw = url.trim().split_once('?').expect("query").1.to_string();
        assert!(
            raw.starts_with("IP=192.0.2.1&RANDOMTEXT=hello+world&domain=example.com&sig="),
            "{raw}"
        );
        let (sig, key) = crate::sig::sig_and_key(&raw).expect("sig and key");
        assert_eq!(key, "_dck1");
        assert!(crate::sig::verify(&public, crate::sig::signed_string(&raw).as_bytes(), &sig).is_ok());
    }
}
