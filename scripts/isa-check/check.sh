#!/usr/bin/env bash
# Checks that makemore's AVX-512 kernels give the same bits as its AVX2
# kernels: the same checkpoints, gradients, losses and samples (checks.sh),
# with every register tile the AVX-512 kernels have.
#
#   scripts/isa-check/check.sh --native [path/to/makemore]   (default .build/release/makemore)
#
# On a CPU with AVX-512: runs checks.sh twice on this machine, with
# MAKEMORE_ISA=avx2 and with the default (AVX-512) kernels. A minute or so.
#
#   scripts/isa-check/check.sh [path/to/makemore]            (default dist/makemore)
#
# On any machine: the AVX2 run here, the AVX-512 run in an emulated AVX-512
# machine, so that the AVX-512 half of the binary is checked also where the
# tests run on a CPU without it. The emulator is Bochs (a Skylake-X CPU model:
# AVX-512 F, CD, BW, DQ, VL, the subset the kernels are built for), booting
# Debian's kernel with a busybox initramfs that holds dist/makemore (static:
# the initramfs has no Swift runtime), the data and checks.sh; then boots an
# Ivy Bridge model (AVX, no AVX2) to check that the binary refuses to run
# there in one line instead of dying of SIGILL. Debian only (apt); installs
# bochs, busybox-static, syslinux, mtools and dosfstools when missing, and
# downloads the kernel package. About 4-5 minutes, mostly the boots, which run
# side by side (each emulator is one thread).
#
# Work files, and the emulated machines' consoles, stay in .build-avx512/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
native=false
if [ "${1:-}" = --native ]; then native=true; shift; fi
if $native; then
    bin=$(realpath -m "${1:-$repo/.build/release/makemore}")
    [ -x "$bin" ] || { echo "check.sh: $bin is missing: run make build first" >&2; exit 2; }
    grep -qw avx512f /proc/cpuinfo || {
        echo "check.sh --native: this CPU has no AVX-512; scripts/isa-check/check.sh (make check-avx512) emulates one" >&2; exit 2; }
else
    bin=$(realpath -m "${1:-$repo/dist/makemore}")
    [ -x "$bin" ] || { echo "check.sh: $bin is missing: run make dist first" >&2; exit 2; }
    command -v apt-get >/dev/null || { echo "check.sh: needs Debian's apt-get to install the emulator" >&2; exit 2; }
fi
work=$repo/.build-avx512
sudo=$([ "$(id -u)" = 0 ] || echo sudo)

if ! $native; then
need=()
for p in bochs:/usr/bin/bochs-bin bochs-term:/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so \
         bochsbios:/usr/share/bochs/BIOS-bochs-latest vgabios:/usr/share/vgabios/vgabios.bin \
         busybox-static:/bin/busybox syslinux:/usr/bin/syslinux mtools:/usr/bin/mcopy \
         dosfstools:/sbin/mkfs.vfat cpio:/usr/bin/cpio bsdutils:/usr/bin/script; do
    [ -e "${p#*:}" ] || need+=("${p%%:*}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} with apt-get"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# busybox-static is a static binary; the `busybox` package (dynamic) also serves.
busybox=$(command -v busybox)
fi

rm -rf "$work" && mkdir -p "$work"
cd "$work"

if ! $native; then
# Debian's current kernel, unpacked from its package (vmlinuz only).
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "check.sh: apt knows no linux-image-amd64 package" >&2; exit 2; }
apt-get download -q "$kpkg" >/dev/null 2>&1 || { echo "check.sh: apt-get download $kpkg failed" >&2; exit 2; }
dpkg-deb --fsys-tarfile linux-image-*.deb | tar -x --wildcards './boot/vmlinuz-*'
cp boot/vmlinuz-* vmlinuz
fi

# The data both runs use: 2000 names (the final evaluation stays short at
# emulation speed), and the PyTorch fixture's model and batch.
mkdir -p data
head -n 2000 "$repo/data/names.txt" > data/names2k.txt
cp "$repo/Tests/Fixtures/model.safetensors" "$repo/Tests/Fixtures/batch.safetensors" data/

# 1. This machine, AVX2 kernels. Its tile cache goes to the AVX-512 run.
echo "AVX2 on this machine ($(grep -m1 'model name' /proc/cpuinfo | sed 's/^[^:]*: *//'))"
mkdir -p host/out host/cache
MAKEMORE_ISA=avx2 MAKEMORE_CACHE_DIR="$work/host/cache" M="$bin" DATA="$work/data" OUT="$work/host/out" \
    sh "$here/checks.sh" > host/log.txt 2>&1 || { cat host/log.txt; echo "check.sh: the AVX2 run failed" >&2; exit 1; }
grep '^RESULT' host/log.txt > host/results.txt

# The AVX-512 run's tile cache: the host's shapes, each given the next of
# every register tile the kernels have (GemmTile.all), so that every AVX-512
# tile runs somewhere; a tile never changes a bit. Widest shapes first: the
# list starts with the 4-vector tiles, which need 64 columns or more to run
# whole. Natively the CPU column stays this CPU's; in the emulated machine
# init fills it in. Remembered tiles also spare the tuner timing them at
# emulation speed.
tiles=$(grep -o 'GemmTile([0-9]*, [0-9]*)' "$repo/Sources/KernelSupport/GemmTile.swift" | sed 's/GemmTile(\([0-9]*\), \([0-9]*\))/\1x\2/')
awk -F'\t' '{ split($3, d, " "); print substr(d[3], 2) "\t" $0 }' host/cache/tiles.tsv | sort -s -t "$(printf '\t')" -k1,1nr | cut -f2- |
    awk -F'\t' -v OFS='\t' -v list="$(echo $tiles)" -v native=$native 'BEGIN { n = split(list, t, " ") }
        { if (native != "true") $1 = "CPU"; $2 = "avx512"; $4 = t[(NR - 1) % n + 1]; print }' > data/tiles.tsv
[ "$(wc -l < data/tiles.tsv)" -ge "$(echo $tiles | wc -w)" ] || echo "note: fewer shapes than tiles; not every tile runs"

# $1, the AVX-512 run's output, against the AVX2 run's: it must have used the
# AVX-512 kernels and the given tiles, and printed the same RESULT lines.
compare() {
    grep -q '^kernels: AVX-512' "$1" || {
        grep -E '^(=== |kernels|Error)' "$1"; echo "check.sh: the AVX-512 run did not use the AVX-512 kernels" >&2; exit 1; }
    if grep '^kernels:' "$1" | grep -qv 'remembered for this CPU'; then
        grep '^kernels:' "$1"; echo "check.sh: the AVX-512 run measured tiles instead of using the given ones" >&2; exit 1
    fi
    grep '^RESULT' "$1" > avx512-results.txt
    if diff host/results.txt avx512-results.txt > results.diff && [ -s host/results.txt ]; then
        echo "identical: $(wc -l < host/results.txt) results (checkpoints, gradients, losses, samples):"
        sed 's/^RESULT /  /' host/results.txt
        echo "AVX-512 register tiles run: $(cut -f4 data/tiles.tsv | sort -u | tr '\n' ' ')"
    else
        cat results.diff; echo "check.sh: AVX-512 and AVX2 results differ" >&2; exit 1
    fi
}

if $native; then
    echo "AVX-512 on this machine: the same commands"
    mkdir -p native/out native/cache && cp data/tiles.tsv native/cache/tiles.tsv
    MAKEMORE_CACHE_DIR="$work/native/cache" M="$bin" DATA="$work/data" OUT="$work/native/out" \
        sh "$here/checks.sh" > avx512.txt 2>&1 || { cat avx512.txt; echo "check.sh: the AVX-512 run failed" >&2; exit 1; }
    compare avx512.txt
    exit 0
fi

# 2. The emulated machine: an initramfs with busybox, the binary, the C and
# C++ runtime it links (see `make dist`), the data and the checks.
mkdir -p root/bin root/lib64 root/lib/x86_64-linux-gnu root/proc root/sys root/dev root/tmp
cp "$busybox" root/bin/busybox
cp -L /lib64/ld-linux-x86-64.so.2 root/lib64/
for lib in $(ldd "$bin" | awk '/=> \// { print $3 }'); do cp -L "$lib" root/lib/x86_64-linux-gnu/; done
cp "$bin" root/makemore
cp -r data root/data
cp "$here/checks.sh" root/checks.sh
cp "$here/init" root/init && chmod +x root/init
(cd root && find . | cpio -o -H newc --quiet) > initrd

# A FAT disk that syslinux boots. clearcpuid: Bochs 2.7 reports the standard
# XSAVE size for the compacted format too, Linux then finds the sizes
# inconsistent and turns XSAVE (so AVX and AVX-512) off; without XSAVES and
# XSAVEC it uses the standard format, whose size Bochs reports right.
cat > syslinux.cfg <<'CFG'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd console=ttyS0,115200 loglevel=4 nokaslr mitigations=off clearcpuid=xsaves,xsavec
CFG
track=$((16 * 63 * 512))  # one cylinder of the disk geometry below
cylinders=$(( ($(stat -c %s vmlinuz) + $(stat -c %s initrd)) / track + 8 ))
dd if=/dev/zero of=disk.img bs=$track count=$cylinders status=none
mkfs.vfat -n MAKEMORE disk.img >/dev/null
syslinux --install disk.img
mcopy -i disk.img vmlinuz initrd syslinux.cfg ::
rm -rf boot root linux-image-*.deb initrd  # all on the disk now

# Bochs: Debian builds it with its debugger (the `c` command starts the
# machine) and its text display needs a terminal (`script` gives it one).
# boot MODEL NAME DISK: boots DISK on Bochs's CPU model MODEL; the machine's
# console goes to NAME.txt. Each machine has a copy of the disk of its own.
echo c > debugger.rc
cp disk.img disk-noavx2.img
boot() {
    cat > "$2.bochsrc" <<RC
megs: 768
cpu: model=$1, count=1
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=disk, path=$3, mode=flat, cylinders=$cylinders, heads=16, spt=63
boot: disk
com1: enabled=1, mode=file, dev=$2.serial
display_library: term
log: $2.bochs.log
clock: sync=none
RC
    local start=$(date +%s)
    TERM=xterm timeout 1800 script -qfec "bochs-bin -q -f $2.bochsrc -rc debugger.rc" /dev/null > "$2.bochs.out" 2>&1 || true
    tr -d '\r' < "$2.serial" > "$2.txt" 2>/dev/null || true
    echo "  $(( $(date +%s) - start )) s; its console: $work/$2.txt"
    if ! grep -q '^=== done' "$2.txt"; then
        tail -n 30 "$2.txt"; echo "check.sh: the emulated machine did not finish its checks" >&2; exit 1
    fi
}

# 3. At the same time, a CPU too old for the binary (Ivy Bridge: AVX, no
# AVX2 or FMA): init then checks that it says so in one line and exits 1
# instead of dying of SIGILL, while --help still works.
echo "AVX-512 in Bochs (Skylake-X model), and beside it a CPU without AVX2 (Bochs's Ivy Bridge model):"
echo "booting Linux on both, then the same commands on the first (several minutes)"
boot corei7_ivy_bridge_3770k noavx2 disk-noavx2.img > noavx2.boot 2>&1 &
guard=$!
trap 'pkill -f "noavx2.bochsrc" 2>/dev/null || true' EXIT  # a failed AVX-512 run leaves no emulator behind
boot corei7_skylake_x avx512 disk.img
compare avx512.txt
guard_status=0
wait "$guard" || guard_status=$?
trap - EXIT
echo "the machine without AVX2:"
cat noavx2.boot
[ "$guard_status" = 0 ] || exit 1
expected='Error: this CPU lacks AVX2 and FMA'
if grep -qx 'GUARD help exit 0' noavx2.txt && grep -qx 'GUARD train exit 1' noavx2.txt \
   && [ "$(grep -c '^GUARD train says ' noavx2.txt)" = 1 ] && grep -q "^GUARD train says $expected" noavx2.txt; then
    echo "refused as it should: $(sed -n 's/^GUARD train says //p' noavx2.txt | cut -c1-100)…"
else
    grep -E '^(=== |GUARD)' noavx2.txt; echo "check.sh: on a CPU without AVX2, makemore did not refuse in one line with exit 1" >&2; exit 1
fi
