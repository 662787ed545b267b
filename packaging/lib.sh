# Shared by packaging/build and packaging/test (sourced, not run). Installs what packaging needs
# on a fresh Debian machine, idempotently: a second run only checks. Tools are cached where a
# later run (or CI on the same machine) finds them: cargo tools in ~/.cargo/bin, apt packages
# system-wide, Python tools in $PKG_CACHE/venv.

# Pinned tool versions (shared/aws-facts.md §8).
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

PKG_CACHE=${CREDHYGIENE_PKG_CACHE:-/var/cache/credhygiene-test}

TRIPLE_x86_64=x86_64-unknown-linux-musl
TRIPLE_aarch64=aarch64-unknown-linux-musl

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Seconds since the epoch, for step timings.
now() { date +%s; }

_apt_updated=
# apt_install PKG...: installs the Debian packages that are missing (as root). Recommends are
# never installed, so every package a step needs is named by the caller: what works on a
# machine only because an earlier install brought a Recommends would fail on a new one.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "please install the Debian packages: ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  if [ -z "$_apt_updated" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

# cargo_tool BIN CRATE VERSION: installs a cargo subcommand at a pinned version unless that
# version is already in ~/.cargo/bin.
cargo_tool() {
  local bin=$1 crate=$2 version=$3
  if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -qF "$version"; then
    return 0
  fi
  say "installing $crate $version (cargo install, a few minutes once; cached in ~/.cargo/bin)"
  local t0; t0=$(now)
  # No LTO, parallel codegen: measured here 4 min of CPU instead of 5 for both tools, which
  # package a few MB just as well.
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --locked --quiet "$crate@$version"
  say "installed $crate $version in $(( $(now) - t0 ))s"
}

# ensure_build_tools: everything packaging/build needs for x86_64.
ensure_build_tools() {
  apt_install musl-tools help2man zip file
  cargo_tool cargo-deb cargo-deb "$CARGO_DEB_VERSION"
  cargo_tool cargo-generate-rpm cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
  rustup target list --installed | grep -qx "$TRIPLE_x86_64" || rustup target add "$TRIPLE_x86_64"
}

# ensure_aarch64_tools: the cross toolchain for aarch64-unknown-linux-musl (Debian's
# gcc-aarch64-linux-gnu compiles the C of ring and libdeflate and links against Rust's
# self-contained musl CRT); qemu-user runs the result. libc6-dev-arm64-cross (the target's C
# headers, bits/*.h) is only a Recommends of the cross gcc, which apt_install does not bring:
# it is named here. Returns 1 (with a message) when it cannot be installed.
ensure_aarch64_tools() {
  if ! apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross \
    binutils-aarch64-linux-gnu qemu-user 2>&1; then
    say "aarch64: the cross toolchain (gcc-aarch64-linux-gnu, qemu-user) cannot be installed"
    return 1
  fi
  if ! rustup target list --installed | grep -qx "$TRIPLE_aarch64"; then
    rustup target add "$TRIPLE_aarch64" || {
      say "aarch64: rustup cannot add $TRIPLE_aarch64"
      return 1
    }
  fi
}

# Environment for cargo to cross-compile aarch64 musl with Debian's cross gcc.
aarch64_env() {
  export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
  export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
}

# Package version as cargo sees it.
crate_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1
}
