//! Release builds of the daemon place the functions it runs together (the list is
//! `packaging/sealtrail.order`, recorded by `packaging/symbol-order.sh`), so an idle
//! daemon keeps ~2.6 MB of its text resident instead of ~6.5 MB: the kernel maps the
//! 64 KiB around each page fault, and the ~1,300 functions it runs were spread
//! over the whole 14 MB text section.
//!
//! Only where rustc links with lld by default (x86_64 Linux since Rust 1.90) and no
//! other linker is configured: `--symbol-ordering-file` is lld's option. A name the
//! binary does not have is skipped silently, so a stale list costs memory, never a
//! failed build (tests/packaging/run.sh checks it is current).
//! `SEALTRAIL_SYMBOL_ORDER=0` turns it off.

use std::env;
use std::path::Path;
use std::process::Command;

/// Whether the compiler building this is Rust 1.90 or later (lld became the default
/// linker of x86_64 Linux then; `rust-version` allows 1.89).
fn rustc_links_with_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=packaging/sealtrail.order");
    println!("cargo:rerun-if-env-changed=SEALTRAIL_SYMBOL_ORDER");
    if env::var("SEALTRAIL_SYMBOL_ORDER").is_ok_and(|v| v == "0") {
        return;
    }
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_by_default = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    // A linker of the user's choosing (`target.<triple>.linker`, `-C linker=`, or lld
    // turned off) may not know the option.
    let other_linker = env::var_os("RUSTC_LINKER").is_some()
        || env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"));
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&dir).join("packaging/sealtrail.order");
    if release && lld_by_default && !other_linker && order.is_file() && rustc_links_with_lld() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
