#!/usr/bin/env bash
# Regenerates the example clips shipped with ctcasr. They are synthetic (espeak-ng, Debian
# package `espeak-ng`), made by this project, so they carry no corpus licence. sox sets the
# format: 16 kHz, 16-bit mono WAV.
set -euo pipefail
cd "$(dirname "$0")"
say() {  # say OUTPUT VOICE RATE WORDS
    espeak-ng -v "$2" -s "$3" -w "/tmp/ctcasr-example.wav" "$4"
    sox "/tmp/ctcasr-example.wav" -r 16000 -b 16 -c 1 "$1"
}
say seven.wav en-us 150 "seven"
say three.wav en-gb 140 "three"
say zero.wav en-us+f3 140 "zero"
rm -f /tmp/ctcasr-example.wav
