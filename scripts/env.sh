# Sourced by every script: one toolchain (Debian's rustc-web 1.96) for the server and the wasm half.
# See ../shared/TOOLCHAIN.md for why: rustup here has no wasm target and may not download one.
export FLOWLENS_TOOLS="${FLOWLENS_TOOLS:-$HOME/.cache/flowlens/tools}"
export PATH="$FLOWLENS_TOOLS/bin:$FLOWLENS_TOOLS/node_modules/.bin:/usr/bin:$PATH"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-22/bin/wasm-ld
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target}"
export FLOWLENS_SITE_ROOT="${FLOWLENS_SITE_ROOT:-$CARGO_TARGET_DIR/site}"
