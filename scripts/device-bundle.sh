#!/usr/bin/env bash
# Bundle binaries built here so they run on the lent GPU machine (the `device` tool).
#
# The device image has CUDA, gcc and cmake but not our Debian libraries (jansson, PCRE2,
# utf8proc, libevent, libedit, libcurl ...). Building there would need their -dev packages;
# instead we build on this machine and ship each binary with every shared library it loads,
# except the C runtime's own (glibc, libgcc, libstdc++: the device has compatible ones).
#
# usage: scripts/device-bundle.sh DEST BINARY...
#   DEST/bin gets the binaries, DEST/lib their libraries, DEST/env.sh sets LD_LIBRARY_PATH.
# Put DEST under an ignored folder of the checkout the device receives (e.g. .dev/, listed in
# .git/info/exclude) and pass it in `carry`; on the device: `. DEST/env.sh && DEST/bin/mlcc ...`.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 DEST BINARY..." >&2
    exit 2
fi
dest=$1
shift
mkdir -p "$dest/bin" "$dest/lib"

# Libraries the device provides itself (or must: the loader and the C runtime).
system_lib='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libgcc_s\.so|libstdc\+\+\.so|libgomp\.so)'

for bin in "$@"; do
    if [ ! -x "$bin" ]; then
        echo "$0: $bin: not an executable" >&2
        exit 1
    fi
    cp -f "$bin" "$dest/bin/"
    ldd "$bin" | awk '/=> \// {print $1, $3}' | while read -r name path; do
        if [[ "$name" =~ $system_lib ]]; then continue; fi
        cp -fL "$path" "$dest/lib/$name"
    done
done

cat > "$dest/env.sh" <<'EOF'
# source this on the device: the bundle's libraries first
bundle_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LD_LIBRARY_PATH="$bundle_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$bundle_dir/bin:$PATH"
EOF
echo "bundled $# binaries into $dest ($(du -sh "$dest" | cut -f1))"
