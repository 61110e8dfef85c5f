"""JSON Lines manifests: round trips, relative paths, and one clear error per bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctcasr.errors import ManifestError
from ctcasr.manifest import ManifestEntry, read_manifest, write_manifest
from ctcasr.text import Alphabet


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus folder with a few (fake, never decoded) audio files under wav/."""
    (tmp_path / "wav").mkdir()
    for name in ("a.flac", "b.flac", "c.wav"):
        (tmp_path / "wav" / name).write_bytes(b"fake")
    return tmp_path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good_line(audio: str = "wav/a.flac", text: str = "yes", duration: float = 0.9, **extra) -> str:
    return json.dumps({"audio_filepath": audio, "text": text, "duration": duration, **extra})


def test_round_trip(corpus):
    entries = [
        ManifestEntry(str(corpus / "wav" / "a.flac"), "yes", 0.9, "s1"),
        ManifestEntry(str(corpus / "wav" / "b.flac"), "no way", 1.25),
        ManifestEntry(str(corpus / "wav" / "c.wav"), "caf\u00e9 don't", 2.0, "s2"),
    ]
    path = corpus / "train.jsonl"
    write_manifest(path, entries)
    report = read_manifest(path)
    assert report.skipped == []
    assert [
        (Path(e.audio_filepath).resolve(), e.text, e.duration, e.speaker) for e in report.entries
    ] == [(Path(e.audio_filepath).resolve(), e.text, e.duration, e.speaker) for e in entries]


def test_written_paths_are_relative_beneath_manifest(corpus, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.flac"
    elsewhere.write_bytes(b"fake")
    path = corpus / "m.jsonl"
    write_manifest(
        path,
        [
            ManifestEntry(str(corpus / "wav" / "a.flac"), "yes", 1.0),
            ManifestEntry(str(elsewhere), "no", 1.0),
        ],
    )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["audio_filepath"] == str(Path("wav") / "a.flac")
    assert rows[1]["audio_filepath"] == str(elsewhere.resolve())
    assert "speaker" not in rows[0]  # None fields are left out


def test_relative_paths_resolve_against_manifest_folder(corpus, monkeypatch, tmp_path_factory):
    path = write_lines(corpus / "m.jsonl", [good_line("wav/a.flac"), good_line("./wav/b.flac")])
    # Reading from another working directory must still find the audio.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    entries = read_manifest(path).entries
    assert Path(entries[0].audio_filepath).resolve() == (corpus / "wav" / "a.flac").resolve()
    assert Path(entries[1].audio_filepath).resolve() == (corpus / "wav" / "b.flac").resolve()


def test_moving_the_corpus_keeps_manifest_valid(corpus, tmp_path_factory):
    path = corpus / "m.jsonl"
    write_manifest(path, [ManifestEntry(str(corpus / "wav" / "a.flac"), "yes", 1.0)])
    moved = tmp_path_factory.mktemp("moved") / "corpus"
    corpus.rename(moved)
    entry = read_manifest(moved / "m.jsonl").entries[0]
    assert Path(entry.audio_filepath).resolve() == (moved / "wav" / "a.flac").resolve()


def test_absolute_paths_kept(corpus):
    audio = (corpus / "wav" / "a.flac").resolve()
    (corpus / "lists").mkdir()
    path = write_lines(corpus / "lists" / "m.jsonl", [good_line(str(audio))])
    assert read_manifest(path).entries[0].audio_filepath == str(audio)


def test_optional_fields_and_blank_lines(corpus):
    path = write_lines(
        corpus / "m.jsonl",
        ["", good_line(duration=1, speaker=7), "   ", good_line("wav/b.flac", extra_field="ok")],
    )
    entries = read_manifest(path).entries
    assert len(entries) == 2
    assert entries[0].speaker == "7"
    assert entries[0].duration == 1.0 and isinstance(entries[0].duration, float)
    assert entries[1].speaker is None


def test_check_audio_false_allows_missing_audio(corpus):
    path = write_lines(corpus / "m.jsonl", [good_line("wav/missing.flac")])
    assert len(read_manifest(path, check_audio=False).entries) == 1


def test_alphabet_check_passes_good_text(corpus):
    path = write_lines(corpus / "m.jsonl", [good_line(text="don't stop")])
    assert read_manifest(path, Alphabet()).entries[0].text == "don't stop"


BAD_LINES = {
    "malformed JSON": ('{"audio_filepath": "wav/a.flac", "text": "yes"', "malformed JSON"),
    "not an object": ('["wav/a.flac", "yes", 1.0]', "not a JSON object"),
    "bare string": ('"wav/a.flac"', "not a JSON object"),
    "missing key": ('{"audio_filepath": "wav/a.flac", "text": "yes"}', "duration"),
    "missing two keys": ('{"audio_filepath": "wav/a.flac"}', "text, duration"),
    "duration string": (good_line(duration="1.5"), "duration"),
    "duration bool": (
        '{"audio_filepath": "wav/a.flac", "text": "y", "duration": true}',
        "duration",
    ),
    "duration negative": (good_line(duration=-1.0), "duration"),
    "duration NaN": ('{"audio_filepath": "wav/a.flac", "text": "y", "duration": NaN}', "duration"),
    "duration inf": (
        '{"audio_filepath": "wav/a.flac", "text": "y", "duration": Infinity}',
        "duration",
    ),
    "text not string": ('{"audio_filepath": "wav/a.flac", "text": 5, "duration": 1}', "text"),
    "empty audio path": (good_line(audio=""), "audio_filepath"),
    "audio not string": ('{"audio_filepath": 3, "text": "y", "duration": 1}', "audio_filepath"),
    "missing audio": (good_line("wav/nope.flac"), "not found"),
    "audio is directory": (good_line("wav"), "not found"),
    "text outside alphabet": (good_line(text="Yes 2!"), "outside the alphabet"),
}


@pytest.mark.parametrize(("bad", "fragment"), list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_bad_line_names_file_and_line(corpus, bad, fragment):
    path = write_lines(corpus / "m.jsonl", [good_line(), good_line("wav/b.flac"), bad, good_line()])
    with pytest.raises(ManifestError) as info:
        read_manifest(path, Alphabet())
    message = str(info.value)
    assert message.startswith(f"{path}:3: "), message
    assert fragment in message
    assert "\n" not in message


def test_skip_bad_drops_and_lists(corpus):
    lines = [
        good_line(),
        "{not json",
        good_line("wav/b.flac", text="no"),
        good_line("wav/gone.flac"),
        "[1, 2]",
        good_line(text="UPPER"),
        good_line("wav/c.wav", text="up"),
    ]
    path = write_lines(corpus / "m.jsonl", lines)
    report = read_manifest(path, Alphabet(), skip_bad=True)
    assert [e.text for e in report.entries] == ["yes", "no", "up"]
    assert len(report.skipped) == 4
    assert [m.split(": ", 1)[0] for m in report.skipped] == [f"{path}:{n}" for n in (2, 4, 5, 6)]
    assert "not found" in report.skipped[1]
    assert "outside the alphabet" in report.skipped[3]


def test_skip_bad_with_nothing_good_still_errors(corpus):
    path = write_lines(corpus / "m.jsonl", ["{bad", good_line("wav/missing.flac")])
    # ... and says why (the reasons were lost when every line was dropped)
    with pytest.raises(ManifestError, match=r"no usable entries \(all 2 lines dropped; "
                                            r"first: .*m\.jsonl:1: malformed JSON"):
        read_manifest(path, skip_bad=True)
    one = write_lines(corpus / "one.jsonl", ["{bad"])  # was "(all 1 lines dropped; ..."
    with pytest.raises(ManifestError, match=r"no usable entries \(its one line dropped; first: "):
        read_manifest(one, skip_bad=True)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_manifest(corpus, content):
    path = corpus / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ManifestError, match="no usable entries") as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_missing_manifest(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(ManifestError, match="not found") as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_undecodable_manifest(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_write_empty_manifest_then_read_fails(tmp_path):
    path = tmp_path / "m.jsonl"
    write_manifest(path, [])
    assert path.read_text(encoding="utf-8") == ""
    with pytest.raises(ManifestError):
        read_manifest(path)


def test_text_outside_the_alphabet_says_its_spelled_form(corpus):
    """Training and evaluate take a manifest's text as written: "¿Más rápido?" under a Spanish
    alphabet said only that "M" was outside it. The error now gives the spelled form."""
    spanish = Alphabet((" ", *"abcdefghijklmnopqrstuvwxyzñáéíóúü"))
    path = write_lines(corpus / "m.jsonl", [good_line(text="¿Más rápido?")])
    hint = r" \(its spelled form, as ctcasr\.normalize_text writes it: 'más rápido'\)$"
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: .*outside the alphabet: '¿M\?'" + hint):
        read_manifest(path, spanish)
    # No hint where the spelled form would not encode either (or would be empty).
    path = write_lines(corpus / "m.jsonl", [good_line(text="日本")])
    with pytest.raises(ManifestError, match=r"outside the alphabet: '日本'$"):
        read_manifest(path, spanish)


def test_decomposed_text_is_named_as_such(corpus):
    """NFD text ("que" + U+0301) was reported with a hint showing the same-looking 'qué'."""
    spanish = Alphabet((" ", *"abcdefghijklmnopqrstuvwxyzñáéíóúü"))
    path = write_lines(corpus / "m.jsonl", [good_line(text="que\u0301 hora es")])
    with pytest.raises(ManifestError, match=r"decomposed: write them composed, NFC: 'qué hora es'"):
        read_manifest(path, spanish)


def test_an_empty_manifest_name_is_refused_as_such(tmp_path, monkeypatch):
    """Path("") is ".", the current folder: it was "Is a directory" (a ``$DEV`` left unset)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError, match=r"^manifest: empty file name \(an unset shell"):
        read_manifest("")
