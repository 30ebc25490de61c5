//! Runs the Kubernetes API test server for scripts and `kubectl`: `--port P --kubeconfig-out FILE`
//! (`--rbac`: the kubeconfig then authenticates as the administrator).

use std::process::ExitCode;

const USAGE: &str =
    "usage: kube-api-test-server [--port P] [--kubeconfig-out FILE] [--strict-namespaces] [--rbac]";

struct Args {
    port: u16,
    kubeconfig_out: Option<String>,
    strict_namespaces: bool,
    rbac: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        kubeconfig_out: None,
        strict_namespaces: false,
        rbac: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                let v = it.next().ok_or("--port needs a value")?;
                args.port = v
                    .parse()
                    .map_err(|_| format!("--port: not a port number: {v}"))?;
            }
            "--kubeconfig-out" => {
                args.kubeconfig_out = Some(it.next().ok_or("--kubeconfig-out needs a value")?)
            }
            "--strict-namespaces" => args.strict_namespaces = true,
            "--rbac" => args.rbac = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("kube-api-test-server: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match kube_api_test_server::TestServer::builder()
        .port(args.port)
        .strict_namespaces(args.strict_namespaces)
        .rbac(args.rbac)
        .start()
        .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kube-api-test-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.kubeconfig_out {
        if let Err(e) = server.write_kubeconfig(path) {
            eprintln!("kube-api-test-server: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Scripts read the URL (and so the port) from the first line of stdout.
    println!("{}", server.url());
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
