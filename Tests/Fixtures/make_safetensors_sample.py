#!/usr/bin/env python3
"""Writes Tests/Fixtures/sample.safetensors with the reference Python library.

SafetensorsTests.testReadsPythonSample hard-codes these exact values, and
testEncodeMatchesPythonBytes checks that our encoder produces the identical
file from them, so change both together.

Run with any Python that has numpy and safetensors, e.g.
    /work/main/bench/.venv/bin/python Tests/Fixtures/make_safetensors_sample.py

The Rust core stores __metadata__ in a HashMap, so with several keys their
order in the header varies between calls. The script retries (each call gets a
freshly seeded map) until the keys come out in sorted order, which is how our
encoder writes them; the resulting file is therefore always the same bytes.
"""
import hashlib
import json
import os
import struct

import numpy as np
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sample.safetensors")

tensors = {
    # exactly representable values
    "C": (np.arange(6, dtype=np.float32).reshape(3, 2) * 0.5 - 1.0).astype(np.float32),
    # rounded values: the test checks their bit patterns
    "W1": np.array([[0.1, -0.2, 1.0 / 3.0], [1e-8, -3.5e7, 2.0**-149]], dtype=np.float32),
    "loss": np.array(2.25, dtype=np.float32),  # scalar, shape []
    "empty": np.zeros((0, 4), dtype=np.float32),
    "X": np.array([[1, 2, 3], [-4, 0, 2147483647]], dtype=np.int32),
    "Y": np.array([7, -2147483648], dtype=np.int32),
}
metadata = {
    "block_size": "3",
    "note": 'h\u00e9llo "quoted"\n\ttab\\',
    "vocab": ".abc",
}

for attempt in range(1000):
    data = save(tensors, metadata=metadata)
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    if list(header["__metadata__"].keys()) == sorted(metadata.keys()):
        break
else:
    raise SystemExit("metadata never came out sorted")

with open(OUT, "wb") as f:
    f.write(data)

back = load_file(OUT)
for k, v in tensors.items():
    assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v), k
print(f"wrote {OUT}: {len(data)} bytes, header {n} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
print("W1 bits:", [hex(x) for x in tensors["W1"].view(np.uint32).ravel()])
