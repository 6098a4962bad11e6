#!/usr/bin/env bash
# test_render_ply.sh PIPELINE TEST_RASTER_PLY: `pipeline render-ply` on a PLY written by our writer and on one
# written by hand in the exact layout of the 3DGS training code; PNGs are produced; errors exit 2.
. "$(dirname "$0")/../lib.sh" "$@"
fixtures="$2"
png_ok() { # a PNG file with the PNG signature and more than a header
  checks=$((checks + 1))
  if [ ! -s "$1" ] || [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ] || [ "$(stat -c %s "$1")" -lt 200 ]; then
    echo "FAIL: $1 is not a PNG"; fails=$((fails + 1))
  fi
}

"$fixtures" --fixtures "$tmp" || { echo "FAIL: cannot write the fixtures"; exit 1; }
expect 0 "render our PLY" -- "$bin" render-ply "$tmp/ours.ply" --width 160 --height 120 --backend cpu
png_ok "$tmp/ours.png"
contains "500 Gaussians (SH degree 3)" "summary line"
expect 0 "render the 3DGS-layout PLY with camera options" -- "$bin" render-ply "$tmp/standard.ply" -o "$tmp/std.png" \
  --width 96 --height 64 --eye 0.5,0.2,-3 --target 0.5,0.2,0.2 --up 0,-1,0 --fov 40 --background 1,1,1 \
  --antialiased --alpha --depth "$tmp/std_depth.png" --sh-degree 1 --backend cpu
png_ok "$tmp/std.png"
png_ok "$tmp/std_depth.png"
contains "(SH degree 1)" "--sh-degree lowers the degree"
expect 0 "render with an explicit viewmat and intrinsics" -- "$bin" render-ply "$tmp/standard.ply" -o "$tmp/vm.png" \
  --viewmat "1 0 0 -0.3, 0 1 0 -0.1, 0 0 1 3" --fx 80 --cx 40 --cy 30 --width 80 --height 60 --backend cpu -q
png_ok "$tmp/vm.png"
expect 2 "missing file" -- "$bin" render-ply "$tmp/none.ply"
contains "none.ply" "missing file is named"
printf 'hello\n' > "$tmp/bad.ply"
expect 2 "not a PLY" -- "$bin" render-ply "$tmp/bad.ply"
contains "bad.ply:1: not a PLY file" "bad file names file and line"
expect 2 "bad --eye" -- "$bin" render-ply "$tmp/ours.ply" --eye 1,2
contains "--eye needs 3 numbers" "bad vector option"
expect 2 "viewmat and eye together" -- "$bin" render-ply "$tmp/ours.ply" --eye 1,2,3 --viewmat "1 0 0 0 0 1 0 0 0 0 1 3"
expect 2 "no file" -- "$bin" render-ply
expect 2 "bad width" -- "$bin" render-ply "$tmp/ours.ply" --width 0
finish test_render_ply
