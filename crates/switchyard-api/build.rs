//! Compiles `proto/switchyard/v1/*.proto` with protox (no protoc needed) into the messages,
//! the servers and the clients of `switchyard.v1`, and writes their descriptor set for
//! server reflection and the field-number test.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "switchyard/v1/control.proto",
    "switchyard/v1/cache.proto",
    "switchyard/v1/rest.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(PROTOS)?;
    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("switchyard_v1.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
