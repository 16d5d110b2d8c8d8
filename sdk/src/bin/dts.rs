//! `flare-sdk-dts OUT_DIR [EXAMPLES_DIR]`: writes `search-params.d.ts` (from
//! the registry), `smart.d.ts` (the package's API) and `resources.d.ts` (from
//! the example instances, default
//! `$FLARE_SHARED/fixtures/us-core-examples` or `../shared/fixtures/us-core-examples`
//! beside the repository) into OUT_DIR.

use std::path::PathBuf;
use std::process::ExitCode;

use flare_sdk::typescript;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: flare-sdk-dts OUT_DIR [EXAMPLES_DIR]");
        return ExitCode::from(2);
    };
    let examples_dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let shared = std::env::var_os("FLARE_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        shared.join("fixtures/us-core-examples")
    });
    match run(&out, &examples_dir) {
        Ok(count) => {
            eprintln!(
                "flare-sdk-dts: wrote {} ({count} example resources)",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flare-sdk-dts: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path, examples_dir: &std::path::Path) -> Result<usize, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir)
        .map_err(|e| format!("cannot read {}: {e}", examples_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut examples = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        typescript::example_resources(&value, &mut examples);
    }
    if examples.is_empty() {
        return Err(format!("no example resources in {}", examples_dir.display()));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write =
        |name: &str, text: String| std::fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("search-params.d.ts", typescript::search_params())?;
    write("resources.d.ts", typescript::resources(&examples))?;
    write("smart.d.ts", typescript::api())?;
    Ok(examples.len())
}
