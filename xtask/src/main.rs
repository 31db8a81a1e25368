//! `cargo xtask <command>`: build helpers for ml-connector.
//!
//! * `componentize <crate-name>` turns the core module `target/wasm32-unknown-unknown/release/<crate>.wasm`
//!   (built with `cargo build --release --target wasm32-unknown-unknown -p <crate-name>`; wit-bindgen
//!   put the world's component type in a custom section) into the component
//!   `target/components/<crate-name>.wasm`, with `wit-component`'s `ComponentEncoder` validating the
//!   result. Library components must import nothing (ARCHITECTURE.md, "Library components"), so the
//!   command fails, printing the WIT, if the component imports anything.
//! * `wit <path.wasm>` prints the WIT world of a component (like `wasm-tools component wit`).
//!
//! `CARGO_TARGET_DIR` is honoured as cargo honours it; otherwise `<workspace>/target`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use wit_component::{ComponentEncoder, DecodedWasm, WitPrinter};

const USAGE: &str = "usage:
  cargo xtask componentize <crate-name>   target/wasm32-unknown-unknown/release/<crate>.wasm -> target/components/<crate-name>.wasm
  cargo xtask wit <path.wasm>             print a component's WIT world";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["componentize", name] => componentize(name),
        ["wit", path] => print_wit(Path::new(path)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        // Cargo resolves a relative CARGO_TARGET_DIR against the current directory.
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target"),
    }
}

fn componentize(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("`{name}` is not a crate name");
    }
    let target = target_dir();
    // Cargo names a cdylib after the crate with `-` replaced by `_`.
    let input = target
        .join("wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let module = std::fs::read(&input).with_context(|| {
        format!(
            "reading {} (build it first: cargo build --release --target wasm32-unknown-unknown -p {name})",
            input.display()
        )
    })?;
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .with_context(|| {
            format!(
                "{}: not a core module with a wit-bindgen component-type section",
                input.display()
            )
        })?
        .encode()
        .with_context(|| format!("encoding {} as a component", input.display()))?;

    let imports = imports_of(&component)?;
    if !imports.is_empty() {
        let wit = wit_of(&component).unwrap_or_else(|err| format!("(WIT unavailable: {err:#})"));
        bail!(
            "{name}: a library component must import nothing, but it imports: {}\n{wit}",
            imports.join(", ")
        );
    }

    let out_dir = target.join("components");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let output = out_dir.join(format!("{name}.wasm"));
    // Write then rename, so a reader (a test, spin) never sees a half-written component.
    let tmp = out_dir.join(format!(".{name}.wasm.tmp"));
    std::fs::write(&tmp, &component).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &output).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{}: {} bytes, imports nothing",
        output.display(),
        component.len()
    );
    Ok(())
}

/// The names of everything the component's world imports.
fn imports_of(component: &[u8]) -> Result<Vec<String>> {
    match wit_component::decode(component).context("decoding the component's WIT")? {
        DecodedWasm::Component(resolve, world) => Ok(resolve.worlds[world]
            .imports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect()),
        DecodedWasm::WitPackage(..) => bail!("this is a WIT package, not a component"),
    }
}

fn wit_of(component: &[u8]) -> Result<String> {
    let decoded = wit_component::decode(component).context("decoding the component's WIT")?;
    let resolve = decoded.resolve();
    let main = decoded.package();
    let nested: Vec<_> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    let mut printer = WitPrinter::default();
    printer.print(resolve, main, &nested)?;
    // The printer starts nested `package … { }` blocks right after the main one's closing brace.
    Ok(printer
        .output
        .to_string()
        .replace("}\npackage ", "}\n\npackage "))
}

fn print_wit(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    print!("{}", wit_of(&bytes)?);
    Ok(())
}
