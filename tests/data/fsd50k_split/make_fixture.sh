#!/bin/sh
# Regenerates the split-zip fixture of tests/test_split_zip.py (needs Info-ZIP zip 3.0; run in this folder).
# FSD50K.dev_audio.z01, .z02 + .zip: `zip -s 64k` (3 files, plain end record, spanning signature first);
# FSD50K.eval_audio.z01 + .zip: `zip -fz -s 64k` (2 files, zip64 end records and zip64 header offsets).
# The clips are 16-bit 44.1 kHz mono WAVs of a tone plus seeded noise (deflate gains little, so they span parts).
set -e
work=$(mktemp -d)
cd "$work"
python3 - <<'PY'
import math, os, random, struct, wave
def clip(path, n, seed):
    r = random.Random(seed)
    with wave.open(path, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(44100)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * 0.05 * (seed + 1))) + r.randint(-3000, 3000)) for i in range(n)))
os.makedirs("FSD50K.dev_audio"); os.makedirs("FSD50K.eval_audio")
for k in (1, 2, 3):
    clip(f"FSD50K.dev_audio/{k}.wav", 30000, k)
clip("FSD50K.eval_audio/4.wav", 30000, 4)
clip("FSD50K.eval_audio/5.wav", 15000, 5)
PY
touch -d "2020-01-01 00:00:00" FSD50K.*/* FSD50K.*
zip -q -X -r -s 64k FSD50K.dev_audio.zip FSD50K.dev_audio
zip -q -X -r -fz -s 64k FSD50K.eval_audio.zip FSD50K.eval_audio
cd - >/dev/null
cp "$work"/FSD50K.dev_audio.z0? "$work"/FSD50K.dev_audio.zip "$work"/FSD50K.eval_audio.z01 "$work"/FSD50K.eval_audio.zip .
rm -rf "$work"
