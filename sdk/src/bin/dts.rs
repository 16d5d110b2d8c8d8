//! Generators of the SDK, from the registry and the FHIR R4 definitions:
//!
//! - `flare-sdk-dts OUT_DIR [FHIR_R4_DIR]`: writes `search-params.d.ts` (from
//!   the registry), `smart.d.ts` (the package's API) and `resources.d.ts` (from
//!   the FHIR R4 StructureDefinitions in FHIR_R4_DIR, default
//!   `$FLARE_SHARED/reference/fhir-r4` or `../shared/reference/fhir-r4` beside
//!   the repository) into OUT_DIR.
//! - `flare-sdk-dts params [FILE]`: writes the Rust search builders (from the
//!   registry) to FILE, default `sdk/src/params/generated.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flare_sdk::typescript;

#[path = "../params/codegen.rs"]
mod codegen;

const USAGE: &str = "usage: flare-sdk-dts OUT_DIR [FHIR_R4_DIR] | flare-sdk-dts params [FILE]";

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let result = match args.as_slice() {
        [cmd, rest @ ..] if cmd.as_os_str() == "params" && rest.len() <= 1 => {
            let file = rest
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/params/generated.rs"));
            std::fs::write(&file, codegen::generate())
                .map(|()| format!("wrote {}", file.display()))
                .map_err(|e| format!("{}: {e}", file.display()))
        }
        [out] => run(out, &default_fhir_dir()),
        [out, fhir] => run(out, fhir),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(done) => {
            eprintln!("flare-sdk-dts: {done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flare-sdk-dts: {e}");
            ExitCode::FAILURE
        }
    }
}

fn default_fhir_dir() -> PathBuf {
    let shared = std::env::var_os("FLARE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    shared.join("reference/fhir-r4")
}

fn run(out: &Path, fhir_dir: &Path) -> Result<String, String> {
    let read = |name: &str| -> Result<serde_json::Value, String> {
        let path = fhir_dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let defs = typescript::Definitions::from_bundles(&[
        read("structuredefinitions-resources.json")?,
        read("structuredefinitions-types.json")?,
    ]);
    let schema = read("fhir.schema.json")?;
    let resources = typescript::resources(&defs, &schema)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write =
        |name: &str, text: String| std::fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("search-params.d.ts", typescript::search_params())?;
    write("resources.d.ts", resources)?;
    write("smart.d.ts", typescript::api())?;
    Ok(format!(
        "wrote {} (resources from {})",
        out.display(),
        fhir_dir.display()
    ))
}
