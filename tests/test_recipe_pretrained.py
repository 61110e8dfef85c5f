"""The bundled-model report: targets are judged in the right direction, the warm start's own
training time is counted, and the page and model card carry the numbers and licences."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import missing_tool

from ctcasr.errors import CtcasrError
from ctcasr.evaluate import Evaluation
from ctcasr.metrics import error_report
from ctcasr.train import EpochLog, TrainResult
from ctcasr.tune import Trial, TuneResult
from recipes.an4.prepare import URL as AN4_URL
from recipes.fsdd.prepare import URL as FSDD_URL
from recipes.pretrained.__main__ import Report
from recipes.pretrained.card import LICENCES, LIMITS, TRAIN_MINUTES, TRAIN_SPEAKERS, USE
from recipes.speech_commands.__main__ import CommandScores, OneOfN
from recipes.speech_commands.prepare import CLASSES, HELD_OUT_WORDS, TEST_SET_URL, URL
from recipes.synthetic.generate import PACKAGES, available_engines

REPO = Path(__file__).resolve().parents[1]
INSTALLED_CARD = REPO / "ctcasr" / "pretrained" / "default" / "MODEL_CARD.md"
# Debian package: (how its row in the card's licence table starts, [(what the row says, what
# the package's /usr/share/doc/<package>/copyright says)]).
DEBIAN_FACTS = {
    "espeak-ng-data": ("| espeak-ng 1.51 with espeak-ng-data", [
        ("GPL-3.0-or-later", "version 3 of the License, or (at your option) any later version"),
        ("Jonathan Duddington", "Jonathan Duddington"), ("Reece H. Dunn", "Reece H. Dunn")]),
    "flite": ("| flite 2.2", [
        ("Copyright (c) 1999-2001 Language Technologies Institute, Carnegie Mellon University",
         "Copyright (c) 1999-2001 by: Language Technologies Institute Carnegie Mellon University"),
        ("marking modifications", "Any modifications must be clearly marked as such")]),
    "festival": ("| festival 2.5", [
        ("Copyright (C) 1996-2017 Centre for Speech Technology Research, University of "
         "Edinburgh, UK", "Copyright (C) 1996-2017 Centre for Speech Technology Research, "
         "University of Edinburgh, UK"),
        ("not using them to endorse", "The authors' names are not used to endorse")]),
    "festvox-kallpc16k": ("| festvox-kallpc16k", [
        ("Copyright (c) 1998", "Copyright (c) 1998"),
        ("Alan W Black and Kevin Lenzo", "Alan W Black and Kevin Lenzo")]),
    "festvox-kdlpc16k": ("| festvox-kdlpc16k", [
        ("Copyright (c) 1997", "Copyright (c) 1997"),
        ("Centre for Speech Technology Research, University of Edinburgh, UK",
         "Centre for Speech Technology Research University of Edinburgh, UK")]),
    "festvox-us-slt-hts": ("| festvox-us-slt-hts", [
        ("EST-2003", "License: EST-2003"), ("EST-2000", "License: EST-2000"),
        ("BSD-3-clause", "License: BSD-3-clause"),
        ("Copyright 2003 Carnegie Mellon University", "Copyright: 2003 Carnegie Mellon University"),
        ("Nagoya Institute of Technology", "Nagoya Institute of Technology")]),
    "wamerican": ("| wamerican", [
        ("SCOWL", "SCOWL"), ("Copyright 2000-2011 by Kevin Atkinson",
                             "Copyright 2000-2011 by Kevin Atkinson"),
        ("WordNet 1.6 Princeton University", "WordNet 1.6 Copyright 1997 by Princeton University"),
        ("J Ross Beresford", "J Ross Beresford"), ("Geoff Kuenning", "Geoff Kuenning")]),
}  # fmt: skip

LOG = "epoch,loss,dev_wer,dev_cer,learning_rate,seconds\n1,9.0,0.5,0.2,0.001,300\n" \
      "2,4.0,0.3,0.1,0.001,360\n"  # fmt: skip


def _evaluation(decoder, refs, hyps):
    return Evaluation(error_report(refs, hyps), refs, hyps, [f"u{i}" for i in range(len(refs))],
                      [], decoder=decoder)  # fmt: skip


def test_report_page_and_model_card(tmp_path):
    run, init, first = tmp_path / "train", tmp_path / "init", tmp_path / "first"
    for folder in (run / "model", init / "model", first / "model"):
        folder.mkdir(parents=True)
    (run / "log.csv").write_text(LOG)
    (init / "log.csv").write_text(LOG.replace(",300\n", ",600\n"))  # 16 min of its own
    (first / "log.csv").write_text(LOG.replace(",360\n", ",0\n"))  # 5 min
    # The warm start was itself this recipe, started from an earlier model: a chain of three.
    (init / "train_config.json").write_text(json.dumps({
        "metadata": {"recipe": "recipes/pretrained"}, "init_from": str(first / "model"),
        "epochs": 16, "learning_rate": 1.5e-3, "output_dir": "exp/pretrained/train",
        "dev_manifest": "exp/pretrained/data/dev.jsonl",
        "train_manifests": ["exp/pretrained/data/an4/train.jsonl", "exp/syn/synthetic.jsonl"],
    }))  # fmt: skip
    history = [EpochLog(1, 9.0, 0.5, 0.2, 0.001, 300.0), EpochLog(2, 4.0, 0.3, 0.1, 0.001, 360.0)]
    result = TrainResult(str(run / "model"), 2, 2, 0.1, 0.3, 3_226_653, history, 900.0, 25041, [])
    an4_refs = ["a b c", "one two", "x y z w", "n o"]
    an4 = [_evaluation("greedy", an4_refs, ["a b d", "one two", "x y z", "n o"]),
           _evaluation("kenlm", an4_refs, [*an4_refs[:3], "n a"])]  # fmt: skip
    fsdd = [_evaluation("greedy", ["seven"] * 100, ["seven"] * 99 + ["one"])] * 2
    tuned = TuneResult("kenlm", Trial({"alpha": 0.5}, 0.1, 0.05), Trial({"alpha": 1}, 0.2, 0.1))
    matrix = [[1 if i == j else 0 for j in range(len(CLASSES))] for i in range(len(CLASSES))]
    commands = CommandScores(0.95, 0.9, 0.88, matrix, OneOfN(51, 60, [("cat", "bed")], 8), 540,
                             0.6)  # fmt: skip
    split = SimpleNamespace(test=[SimpleNamespace(audio_filepath=f"u{i}", speaker=f"s{i % 2}")
                                  for i in range(4)])  # fmt: skip
    report = Report(["--epochs", "2"], result, tuned, an4, fsdd, commands, 13.4,
                    str(init / "model"), split)  # fmt: skip

    page = "\n".join(report.page(tmp_path))
    # AN4 kenlm: 1 word wrong of 11 = 9.09% > 7% -> missed; FSDD 99% -> met; unseen 85% -> missed
    assert "| AN4 test WER, tuned KenLM | <= 7% | 9.09% | **no** |" in page
    assert "| FSDD test digit accuracy | >= 99% | 99.00% | yes |" in page
    assert "| Speech Commands ten-command accuracy, grammar | >= 92% | 95.00% | yes |" in page
    assert "| unseen words through a command list | >= 90% | 85.00% | **no** |" in page
    assert "| Kaldi GMM tri3 SAT (published) | 5.95% |  |" in page
    assert "cat -> bed" in page
    # Counts with Wilson intervals: 513 of 540 and 51 of 60
    assert "**95.00%** (513/540; 95% CI 92.8%-96.5%;" in page
    assert "**85.00%** (51/60; 95% CI 73.9%-91.9%)" in page
    assert "(best 2, dev CER 10.00%), 11 min, median 330 s per epoch" in page  # 660 s
    assert (f"`{init / 'model'}`, 2 epochs and 16 min of its own training on an4, synthetic; "
            "best dev CER 10.00% on `exp/pretrained/data/dev.jsonl`") in page  # fmt: skip
    # The first stage has no saved settings: no dev set to name, but its log has the CERs.
    assert f"`{first / 'model'}`, 2 epochs and 5 min of its own training on its corpus; " \
        "best dev CER 10.00%\n" in page
    assert "Training time of all stages together: 32 min" in page
    reproduce = page.split("## Reproduce")[1]
    stage1 = f"python -m recipes.pretrained --data ../shared/data --init-from {first / 'model'}"
    assert reproduce.index("python -m recipes.speech_commands") < reproduce.index(stage1) \
        < reproduce.index("python -m recipes.pretrained --epochs 2")  # fmt: skip
    assert f"{stage1} --epochs 16\n" in reproduce  # default learning rate and folder: not given
    for png in ("training_curves.png", "confusion_matrix.png", "per_speaker_wer.png"):
        assert (tmp_path / png).stat().st_size > 5000 and f"]({png})" in page

    card = report.model_card()
    assert card.count("3,226,653 parameters") == 1  # once, under Training
    assert "3,226,653 parameters; shipped bundle 13.4 MB" in card
    assert "CC BY-SA 4.0" in card and "CC BY 4.0" in card and "CMU AN4 terms" in card
    assert "FSDD test digit accuracy 99.00%" in card
    assert "`grammar` (`--commands FILE`) rejects below confidence 0.6, tuned" in card
    assert "unknown = rejected below confidence 0.6, tuned on dev" in page
    assert "unseen **dev** words" not in page  # none held out
    assert "dev set for unseen words" not in card
    commands.unseen_dev = OneOfN(40, 46, [("bed", "happy")], 7)
    report.argv += ["--dev-words", "bed,happy"]
    # the card of a model that never heard them said only the test words were held out
    assert ("- Also held out of all training, as a dev set for unseen words: bed, happy.\n"
            in report.model_card())  # fmt: skip
    page = "\n".join(report.page(tmp_path))
    assert "- unseen words, one of 8 through a command list (60 real recordings" in page
    assert ("- unseen **dev** words, one of 7 (46 real recordings of words kept out of all "
            "training to tune for unseen words by; not a test): 86.96% (40/46; 95% CI") in page
    assert "| unseen words through a command list | >= 90% | 85.00% | **no** |" in page


def test_the_installed_card_holds_the_use_and_licence_sections_the_recipe_writes():
    """The card named licences in passing only (no addresses, no copyright holders, nothing
    for the TTS voices or the word list) and said nothing of intended or out-of-scope use, so
    no one could tell whether or how they may ship it; its train minutes (38, 30) were not the
    RESULTS pages' (38.0, 29.9). The installed card holds what a re-install writes."""
    card = INSTALLED_CARD.read_text(encoding="utf-8")
    for section in (LIMITS, USE, LICENCES):
        assert "\n".join(section) in card
    for url in (AN4_URL, FSDD_URL, URL, TEST_SET_URL):
        assert url in card
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    for package in {*PACKAGES.values(), *DEBIAN_FACTS}:
        assert any(package in row for row in rows), package
    assert "Licence of the weights:" in card


@pytest.mark.parametrize("corpus", sorted(TRAIN_MINUTES))
def test_the_cards_train_figures_are_the_recipes_results_pages(corpus):
    page = (REPO / "recipes" / corpus / "RESULTS.md").read_text(encoding="utf-8")
    found = re.search(r"^Data: train: \d+ \w+, (\d+) speakers, ([\d.]+) min", page, re.M)
    assert found, f"recipes/{corpus}/RESULTS.md has no train line"
    assert (int(found[1]), found[2]) == (TRAIN_SPEAKERS[corpus], TRAIN_MINUTES[corpus])


@pytest.mark.parametrize("package", sorted(DEBIAN_FACTS))
def test_the_cards_tts_licences_are_the_debian_packages(package):
    """Each TTS engine, voice and word-list row says what its package's copyright file says."""
    copyright_file = Path("/usr/share/doc") / package / "copyright"
    if not copyright_file.is_file():
        pytest.skip(f"{package} is not installed here: {copyright_file} not found")
    stated = " ".join(copyright_file.read_text(encoding="utf-8", errors="replace").split())
    start, facts = DEBIAN_FACTS[package]
    rows = [line for line in "\n".join(LICENCES).splitlines() if line.startswith(start)]
    assert len(rows) == 1, start
    for in_card, in_copyright in facts:
        assert in_card in rows[0] and in_copyright in stated, (in_card, in_copyright)


def test_reproduce_gives_the_first_stage_the_dev_words_it_held_out(tmp_path):
    """A model of the held-out line listed its Speech Commands stage without --dev-words:
    rerun as listed, that stage heard them and the next stage refused it."""
    sc, stage = tmp_path / "sc" / "train", tmp_path / "pt" / "train"
    words = ["backward", "bed"]
    for run, cfg in ((sc, {"metadata": {"recipe": "recipes.speech_commands",
                                         "unseen_dev_words": words}}),
                     (stage, {"metadata": {"recipe": "recipes/pretrained",
                                            "unseen_dev_words": words},
                              "init_from": str(sc / "model"), "epochs": 16})):  # fmt: skip
        (run / "model").mkdir(parents=True)
        (run / "train_config.json").write_text(json.dumps(cfg))
    report = Report(["--epochs", "2"], *[None] * 6, str(stage / "model"), None)
    lines = report.reproduce_lines()
    assert lines[1] == ("    python -m recipes.speech_commands --data ../shared/data/"
                        "speech_commands --extra exp/an4/data/train.jsonl --epochs 30 "
                        "--dev-words backward,bed")  # fmt: skip
    assert lines[2] == (f"    python -m recipes.pretrained --data ../shared/data --init-from "
                        f"{sc / 'model'} --dev-words backward,bed --epochs 16")  # fmt: skip
    (sc / "train_config.json").write_text(json.dumps({"metadata": {}}))  # none held out
    assert report.reproduce_lines()[1].endswith("--extra exp/an4/data/train.jsonl --epochs 30")


def test_synthetic_subset_is_a_seeded_ordered_sample(tmp_path):
    from recipes.pretrained.__main__ import synthetic_subset

    manifest = tmp_path / "synthetic.jsonl"
    lines = [json.dumps({"audio_filepath": f"{i}.wav", "text": "x", "duration": 1})
             for i in range(50)]  # fmt: skip
    manifest.write_text("\n".join(lines) + "\n\n")
    path = synthetic_subset(manifest, 10, seed=3)
    kept = path.read_text().splitlines()
    assert len(kept) == 10 and kept == [line for line in lines if line in kept]  # in order
    assert synthetic_subset(manifest, 10, seed=3).read_text() == path.read_text()
    assert synthetic_subset(manifest, 10, seed=4).read_text() != path.read_text()
    assert synthetic_subset(manifest, 500, seed=0).read_text().splitlines() == lines


def test_repeat_option_weights_real_corpora():
    import pytest

    from ctcasr.errors import CtcasrError
    from recipes.pretrained.__main__ import parse_repeats

    assert parse_repeats(["an4=3", "speech_commands=2"]) == {"an4": 3, "speech_commands": 2}
    assert parse_repeats([]) == {}
    for bad in ("synthetic=2", "an4=0", "an4", "an4=x"):
        with pytest.raises(CtcasrError, match="--repeat"):
            parse_repeats([bad])


def test_rerun_command_recovers_the_data_mix():
    """A fine-tuning stage's rerun command must rebuild its mix, not just its epochs: a
    command without the repeats and the subset trains a different model."""
    from recipes.pretrained.__main__ import TRAIN_SETTINGS, rerun_command

    data = "exp/pretrained/data"
    cfg = {
        "init_from": "exp/pretrained/train/model", "epochs": 14, "seed": 1,
        "learning_rate": 5e-4, "output_dir": "exp/pretrained/finetune",
        "train_manifests": [*[f"{data}/an4/train.jsonl"] * 3, f"{data}/fsdd/train.jsonl",
                            *[f"{data}/speech_commands/train.jsonl"] * 2,
                            "exp/pretrained/synthetic/synthetic.subset4000-seed1.jsonl"],
    }  # fmt: skip
    assert rerun_command(cfg) == (
        "python -m recipes.pretrained --data ../shared/data --init-from "
        "exp/pretrained/train/model --repeat an4=3 --repeat speech_commands=2 "
        "--synthetic-subset 4000 --seed 1 --learning-rate 0.0005 --epochs 14 "
        "--train-dir exp/pretrained/finetune"
    )
    plain = {"epochs": 16, "learning_rate": TRAIN_SETTINGS["learning_rate"],
             "output_dir": "exp/pretrained/train",
             "train_manifests": [f"{data}/an4/train.jsonl", "x/synthetic.jsonl"]}  # fmt: skip
    assert rerun_command(plain) == "python -m recipes.pretrained --data ../shared/data --epochs 16"
    # saved configs hold lists; the default factors add nothing, others are named
    plain["augment"] = {"speed_factors": [0.9, 1.0, 1.1]}
    assert rerun_command(plain) == "python -m recipes.pretrained --data ../shared/data --epochs 16"
    plain["augment"] = {"speed_factors": [0.9, 1.0, 1.1, 1.2, 1.3]}
    assert rerun_command(plain) == (
        "python -m recipes.pretrained --data ../shared/data --speed 0.9,1,1.1,1.2,1.3 --epochs 16")
    # the synthetic corpus's own settings, recorded by stages since they could differ
    plain["metadata"] = {"recipe": "recipes/pretrained", "synthetic": {"count": 20000, "seed": 0}}
    assert rerun_command(plain) == (
        "python -m recipes.pretrained --data ../shared/data --speed 0.9,1,1.1,1.2,1.3 --epochs 16")
    plain["metadata"]["synthetic"] = {"count": 5000, "seed": 3}
    assert rerun_command(plain) == (
        "python -m recipes.pretrained --data ../shared/data --synthetic 5000 --synthetic-seed 3 "
        "--speed 0.9,1,1.1,1.2,1.3 --epochs 16")


def test_speed_option_is_checked_on_the_command_line(capsys):
    from recipes.pretrained.__main__ import AUGMENT, parse_args

    assert parse_args([]).speed == AUGMENT["speed_factors"]
    assert parse_args(["--speed", "0.9,1.2"]).speed == (0.9, 1.2)
    for bad in ("fast", "0.9,,1.1", "0.1", "nan"):
        with pytest.raises(SystemExit):
            parse_args(["--speed", bad])
        assert "--speed" in capsys.readouterr().err


def test_describe_mix_names_each_corpus_once_with_its_weight():
    from recipes.pretrained.__main__ import describe_mix

    data = "exp/pretrained/data"
    mix = [*[f"{data}/an4/train.jsonl"] * 3, f"{data}/fsdd/train.jsonl",
           "exp/pretrained/synthetic/synthetic.subset4000-seed0.jsonl"]  # fmt: skip
    assert describe_mix(mix) == "an4 x3, fsdd, synthetic (4000-clip subset)"
    assert describe_mix(["exp/an4/data/train.jsonl"]) == "an4"


def test_averaging_is_measured_on_dev_and_kept_only_when_better(tmp_path, fsdd_dir):
    """``--average-with``: the mean of two bundles is scored against the stage's own best on
    the dev manifest, with the same greedy decoding, and ships only if its CER is lower."""
    from recipes.pretrained.__main__ import Averaging, try_average
    from recipes.pretrained.dev_compare import greedy_dev_cer
    from tests.helpers import tiny_bundle, write_fsdd_manifest

    stage = tmp_path / "finetune4" / "model"
    tiny_bundle(stage, 1)
    tiny_bundle(tmp_path / "finetune3" / "model", 2)
    dev = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(0, 2))
    averaging = try_average(stage, [str(tmp_path / "finetune3" / "model")], dev, stage.parent)
    assert averaging.path == str(tmp_path / "finetune4" / "averaged")
    assert averaging.sources == [str(stage), str(tmp_path / "finetune3" / "model")]
    assert averaging.stage_dev_cer == greedy_dev_cer(stage, dev)
    assert averaging.averaged_dev_cer == greedy_dev_cer(Path(averaging.path), dev)
    assert averaging.stage_dev_cer > 0.0  # an untrained model: real scores, not placeholders

    better = Averaging("avg", ["stage", "prev"], 0.0489, 0.0485)
    worse = Averaging("avg", ["stage", "prev"], 0.0489, 0.0489)
    assert better.kept and not worse.kept  # a tie keeps the stage's own weights
    assert better.summary() == ("mean of this stage's best weights and `prev`: greedy dev CER "
                                "4.85%, against 4.89% for this stage's best alone (shipped)")
    assert worse.summary().endswith("(not kept: this stage's best ships)")


def test_a_stage_started_from_an_average_reruns_with_average_with(tmp_path):
    from recipes.pretrained.__main__ import warm_start_chain

    run = tmp_path / "finetune4"
    (run / "averaged").mkdir(parents=True)
    (run / "log.csv").write_text(LOG)
    (run / "train_config.json").write_text(json.dumps({
        "metadata": {"recipe": "recipes/pretrained"}, "init_from": "exp/f3/model",
        "epochs": 12, "learning_rate": 1.5e-4, "output_dir": str(run), "train_manifests": [],
    }))  # fmt: skip
    (run / "averaged" / "bundle.json").write_text(json.dumps(
        {"metadata": {"averaged_from": [str(run / "model"), "exp/f3/model"]}}))  # fmt: skip
    (stage, *_) = warm_start_chain(str(run / "averaged"))
    assert stage.command is not None
    assert stage.command.endswith(f"--train-dir {run} --average-with exp/f3/model")
    assert stage.averaged_with == ("exp/f3/model",)


def test_a_stage_started_from_a_soup_lists_every_stage_once_in_rerun_order(tmp_path):
    """A soup of two stages fine-tuned from one parent: the soup, then both stages, then the
    parent once; reversed, the list reruns every stage after those it needs."""
    from recipes.pretrained.__main__ import warm_start_chain

    def stage(name: str, init_from: str) -> str:
        run = tmp_path / name
        (run / "model").mkdir(parents=True)
        (run / "log.csv").write_text(LOG)
        (run / "train_config.json").write_text(json.dumps({
            "metadata": {"recipe": "recipes/pretrained"}, "init_from": init_from,
            "epochs": 10, "learning_rate": 1e-4, "output_dir": str(run), "train_manifests": [],
        }))  # fmt: skip
        return str(run / "model")

    parent = stage("f4", "exp/f3/model")
    f5, f6 = stage("f5", parent), stage("f6", parent)
    soup = tmp_path / "soup" / "g2"
    soup.mkdir(parents=True)
    (soup / "bundle.json").write_text(json.dumps({"metadata": {
        "averaged_from": [f5, f6], "averaged_checkpoints": ["f6/checkpoints/epoch-0003"]}}))
    chain = warm_start_chain(str(soup))
    assert [s.bundle for s in chain] == [str(soup), f6, f5, parent, "exp/f3/model"]
    assert chain[0].soup_of == (f5, f6) and chain[0].minutes == 0
    assert chain[0].command == (f"ctcasr average {f5} {f6} -o {soup} "
                                "--checkpoint f6/checkpoints/epoch-0003")  # fmt: skip
    assert chain[1].command is not None and "--init-from " + parent in chain[1].command
    rerun = [s.bundle for s in reversed(chain)]
    for s in chain:  # every bundle a stage starts from is rerun before it
        needs = s.soup_of or ((parent,) if s.bundle in (f5, f6) else ())
        assert all(rerun.index(n) < rerun.index(s.bundle) for n in needs)


def test_average_best_epochs_reruns_with_the_flag_and_needs_the_checkpoints(tmp_path):
    from ctcasr.errors import CtcasrError
    from recipes.pretrained.__main__ import (
        Averaging,
        best_epochs,
        checkpoint_dirs,
        warm_start_chain,
    )

    history = [EpochLog(e, 1.0, 0.1, cer, 1e-4, 1.0)
               for e, cer in ((1, 0.06), (2, 0.05), (3, 0.05), (4, None), (5, 0.04))]  # fmt: skip
    assert best_epochs(history, 3) == [5, 2, 3]  # a tie goes to the earlier epoch
    assert best_epochs(history, 1) == [5]
    run = tmp_path / "finetune7"
    for e in (2, 3):
        (run / "checkpoints" / f"epoch-{e:04d}").mkdir(parents=True)
        (run / "checkpoints" / f"epoch-{e:04d}" / "weights.npz").write_bytes(b"")
    assert checkpoint_dirs(run, [2, 3]) == [run / "checkpoints" / "epoch-0002",
                                            run / "checkpoints" / "epoch-0003"]  # fmt: skip
    with pytest.raises(CtcasrError, match=r"epoch-0001: --average-best needs a run that kept"):
        checkpoint_dirs(run, [1, 2])

    averaging = Averaging(str(run / "averaged"), [str(run / "model")], 0.05, 0.045, [2, 3])
    assert averaging.kept
    assert averaging.summary().startswith(
        "mean of this stage's best weights and its epochs 2, 3: greedy dev CER 4.50%")

    (run / "averaged").mkdir()
    (run / "log.csv").write_text(LOG)
    (run / "train_config.json").write_text(json.dumps({
        "metadata": {"recipe": "recipes/pretrained"}, "init_from": "exp/f6/model",
        "epochs": 10, "learning_rate": 1e-4, "output_dir": str(run), "train_manifests": [],
    }))  # fmt: skip
    (run / "averaged" / "bundle.json").write_text(json.dumps({"metadata": {
        "averaged_from": [str(run / "model")],
        "averaged_checkpoints": [str(p) for p in checkpoint_dirs(run, [2, 3])]}}))
    (stage, *_) = warm_start_chain(str(run / "averaged"))
    assert stage.command is not None and stage.command.endswith(f"--train-dir {run} "
                                                                "--average-best 3")  # fmt: skip
    assert stage.averaged_epochs == 2 and stage.averaged_with == ()


def test_dev_compare_scores_combined_dev_and_the_ten_commands(tmp_path, fsdd_dir,
                                                              speech_commands_dir):
    """The ship-decision table: greedy dev WER/CER as training measures them, and the ten
    commands counted on Speech Commands dev clips only (other words are not commands)."""
    import soundfile as sf

    from ctcasr.manifest import ManifestEntry, write_manifest
    from recipes.pretrained.dev_compare import dev_scores, main
    from tests.helpers import tiny_bundle, write_fsdd_manifest

    tiny_bundle(tmp_path / "model", 1)
    combined = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(0, 1))
    clips = [*sorted((speech_commands_dir / "yes").glob("*.flac"))[:2],
             *sorted((speech_commands_dir / "_unknown_").glob("bed_*.flac"))[:1]]  # fmt: skip
    # A "yes" followed by 35 s of silence: scored whole, as training scores dev (cut into
    # pieces as transcribe would cut it, it crashed the grammar decoding).
    samples, rate = sf.read(str(clips[0]), dtype="float32")
    sf.write(tmp_path / "long_yes.wav", np.concatenate([samples, np.zeros(35 * rate, "float32")]),
             rate)  # fmt: skip
    # One second of digital silence labelled "yes" (the list's first command) is no hit:
    # the model is shown no frames of it, and the best phrase of none was "yes".
    sf.write(tmp_path / "silent_yes.wav", np.zeros(rate, "float32"), rate)
    entries = [ManifestEntry(str(p), "bed" if "_unknown_" in str(p) else "yes",
                             sf.info(str(p)).duration)
               for p in [*clips, tmp_path / "long_yes.wav", tmp_path / "silent_yes.wav"]]
    commands_dev = tmp_path / "sc_dev.jsonl"
    write_manifest(commands_dev, entries)
    scores = dev_scores(tmp_path / "model", combined, commands_dev)
    assert scores.ten_total == 4 and 0 <= scores.ten_right <= 3  # "bed" is not a command
    assert scores.ten_hits[-1] is False
    assert scores.cer > 0.0  # an untrained model
    assert scores.row().startswith(f"| `{tmp_path / 'model'}` | ")
    assert main([str(tmp_path / "model"), "--data", str(tmp_path / "missing")]) == 1
    assert scores.versus(scores) == (0, 0, 1.0)  # a bundle against itself


def test_dev_compare_pairs_clips_against_the_shipped_bundle():
    from recipes.pretrained.dev_compare import DevScores

    shipped = DevScores("shipped", 0.07, 0.048, (True, True, True, True, False, False))
    candidate = DevScores("cand", 0.07, 0.046, (True, False, False, True, True, False))
    assert candidate.versus(shipped) == (2, 1, 0.5)  # lost clips 2 and 3, won clip 5
    assert candidate.row(shipped).endswith("| 3/6 | 1 / 2 | 0.500 |")
    with pytest.raises(ValueError, match="different clips"):
        candidate.versus(DevScores("other", 0.0, 0.0, (True,)))


def test_decode_ideas_scores_each_idea_on_dev_against_the_shipped_bundle(
        tmp_path, fsdd_dir, speech_commands_dir, capsys):
    """The table behind CANDIDATES' decoding-side ideas: one row per idea, each on the same
    dev clips of the ten commands, and AN4 dev greedy WER at both speeds."""
    import soundfile as sf

    from ctcasr.manifest import ManifestEntry, write_manifest
    from recipes.pretrained.decode_ideas import main
    from tests.helpers import tiny_bundle, write_fsdd_manifest

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    data = tmp_path / "data"
    (data / "speech_commands").mkdir(parents=True)
    (data / "an4").mkdir()
    clips = [*sorted((speech_commands_dir / "yes").glob("*.flac"))[:2],
             *sorted((speech_commands_dir / "_unknown_").glob("bed_*.flac"))[:1]]  # fmt: skip
    write_manifest(data / "speech_commands" / "dev.jsonl",
                   [ManifestEntry(str(p), "bed" if "_unknown_" in str(p) else "yes",
                                  sf.info(str(p)).duration) for p in clips])  # fmt: skip
    write_fsdd_manifest(data / "an4" / "dev.jsonl", fsdd_dir, range(0, 1))
    assert main([str(tmp_path / "a"), "--others", str(tmp_path / "b"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 6  # header; as shipped, one pair, all, length, slowed, speeds
    assert all(re.search(r"\| [0-2]/2 \| \d+ / \d+ \| [01]\.\d{3} \|$", r) for r in rows[1:])
    assert rows[1].startswith("| as shipped | ") and " 0 / 0 | 1.000 |" in rows[1]
    assert out.count("AN4 dev greedy WER, input at speed") == 2



def test_decode_ideas_reads_its_manifests_before_any_decoding(tmp_path, capsys):
    """AN4 dev was read last, as raw JSON: missing, it was a FileNotFoundError traceback
    after the whole table had been decoded and printed."""
    import numpy as np
    import soundfile as sf

    from ctcasr.manifest import ManifestEntry, write_manifest
    from recipes.pretrained.decode_ideas import main
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "a", 1)
    data = tmp_path / "data"
    clip = data / "speech_commands" / "yes.wav"
    clip.parent.mkdir(parents=True)
    sf.write(str(clip), np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    write_manifest(data / "speech_commands" / "dev.jsonl", [ManifestEntry(str(clip), "yes", 0.5)])
    assert main([str(tmp_path / "a"), "--data", str(data)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {data / 'an4' / 'dev.jsonl'}: manifest not found\n"


def test_unseen_dev_ideas_scores_held_out_bundles_and_refuses_one_that_heard(
        tmp_path, speech_commands_dir, capsys):
    """The table behind "The held-out line from finetune2 on": every idea on the dev words for
    each held-out bundle, and the speed ideas on the ten commands with the shipped bundle."""
    import soundfile as sf

    from ctcasr.manifest import ManifestEntry, write_manifest
    from recipes.pretrained.unseen_dev_ideas import SPEED_SETS, main
    from tests.helpers import tiny_bundle

    held = {"unseen_dev_words": ["bed", "happy"]}
    tiny_bundle(tmp_path / "held", 1, metadata=held)
    tiny_bundle(tmp_path / "heard", 2)
    sc = tmp_path / "data" / "speech_commands"
    sc.mkdir(parents=True)
    unknown = speech_commands_dir / "_unknown_"
    words = [*sorted(unknown.glob("bed_*.flac"))[:2], *sorted(unknown.glob("happy_*.flac"))[:1]]
    write_manifest(sc / "unseen_dev.jsonl",
                   [ManifestEntry(str(p), p.name.split("_")[0], sf.info(str(p)).duration)
                    for p in words])  # fmt: skip
    (sc / "unseen_dev_commands.txt").write_text("bed\nhappy\n")
    yes = sorted((speech_commands_dir / "yes").glob("*.flac"))[:2]
    write_manifest(sc / "dev.jsonl", [ManifestEntry(str(p), "yes", 1.0) for p in yes])
    data = ["--data", str(tmp_path / "data")]

    assert main([str(tmp_path / "held"), "--against", str(tmp_path / "heard"), *data]) == 0
    out = capsys.readouterr().out
    tables = out.split("Speech Commands dev ten commands")
    assert len(tables) == 2
    words_rows = [r for r in tables[0].splitlines() if r.startswith("| ") and "---" not in r]
    # header; the speed sets, no length normalisation, 4 temperatures, 3 penalties, 2 priors
    assert len(words_rows) == 1 + len(SPEED_SETS) + 1 + 4 + 3 + 2
    assert all(re.search(r" \| [0-3]/3 \|$", r) for r in words_rows[1:])
    ten_rows = [r for r in tables[1].splitlines() if r.startswith("| ") and "---" not in r]
    assert len(ten_rows) == 1 + len(SPEED_SETS)
    assert ten_rows[1].startswith("| as is | ") and ten_rows[1].endswith(" 0 / 0 | 1.000 |")

    # A bundle that heard the dev words says nothing about them: refused before any scoring.
    assert main([str(tmp_path / "heard"), *data]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "trained without holding out bed, happy" in captured.err


@pytest.fixture
def prepared_corpora(tmp_path, monkeypatch) -> Path:
    """A --data folder whose real corpora prepare instantly (empty), for the synthetic step."""
    import recipes.an4.prepare
    import recipes.fsdd.prepare
    import recipes.speech_commands.prepare

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    for name in ("an4", "fsdd", "speech_commands", "noise"):
        (tmp_path / "data" / name).mkdir(parents=True)
    empty = lambda *args, **kwargs: SimpleNamespace(train=[], dev=[])  # noqa: E731
    for module in (recipes.an4.prepare, recipes.fsdd.prepare, recipes.speech_commands.prepare):
        monkeypatch.setattr(module, "prepare", empty)
    monkeypatch.setattr(recipes.an4.prepare, "lm_corpus", lambda split: [])
    return tmp_path / "data"


def _synthetic(out: Path, count: int, seed: int, exclude: Sequence[str] = HELD_OUT_WORDS,
               drop: Collection[int] = ()) -> Path:  # fmt: skip
    """A corpus made as the recipe makes it (system word list), less the clips in ``drop``,
    which the engine is made to fail on."""
    import recipes.synthetic.generate as gen

    real = gen.synthesise
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gen, "synthesise", lambda items, workdir, control: (
            {i: wav for i, wav in real(items, workdir, control)[0].items() if i not in drop},
            dict.fromkeys(drop, "made to fail")))  # fmt: skip
        gen.generate(out / "synthetic", count, exclude=exclude, seed=seed, engines=["espeak"],
                     jobs=1)  # fmt: skip
    return out / "synthetic" / "synthetic.jsonl"


def test_a_synthetic_corpus_with_skipped_clips_is_reused(tmp_path, prepared_corpora):
    """A clip an engine failed on left the manifest one line short of --synthetic, and every
    rerun was refused although the corpus was the one asked for."""
    from recipes.pretrained.__main__ import prepare_all

    manifest = _synthetic(tmp_path / "out", 4, seed=0, drop={2})
    assert len(manifest.read_text().splitlines()) == 3
    assert prepare_all(prepared_corpora, tmp_path / "out", 4, 0)["synthetic"] == manifest
    # the record also guards the manifest it describes
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(CtcasrError, match="holds 2 synthetic clips, but its record says 3"):
        prepare_all(prepared_corpora, tmp_path / "out", 4, 0)


def test_a_synthetic_corpus_made_otherwise_is_refused_in_one_line(tmp_path, prepared_corpora):
    """A corpus of another seed or other excluded words, but the same count, was reused
    silently (and with the held-out words in it, the unseen-word test was no longer honest)."""
    from recipes.pretrained.__main__ import prepare_all

    manifest = _synthetic(tmp_path / "out", 3, seed=1, exclude=["cat"])
    with pytest.raises(CtcasrError) as caught:
        prepare_all(prepared_corpora, tmp_path / "out", 3, 0)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{manifest}: synthetic corpus made with seed 1 (asked 0); "
                              "exclude [cat] (asked [")  # fmt: skip
    assert message.endswith(f"; remove {manifest.parent} to make it anew")
    manifest = _synthetic(tmp_path / "out", 3, seed=1)
    with pytest.raises(CtcasrError, match=r"made with count 3 \(asked 5\); seed 1 \(asked 0\); "
                       r"remove .* to make it anew, or pass --synthetic 3 --synthetic-seed 1$"):
        prepare_all(prepared_corpora, tmp_path / "out", 5, 0)
    # Made by older code (no record): judged by its clip count, as before.
    (manifest.parent / "synthetic.settings.json").unlink()
    assert prepare_all(prepared_corpora, tmp_path / "out", 3, 0)["synthetic"] == manifest
    with pytest.raises(CtcasrError, match="holds 3 synthetic clips, not the 5 asked for"):
        prepare_all(prepared_corpora, tmp_path / "out", 5, 0)


def test_the_training_seed_does_not_choose_the_synthetic_corpus(tmp_path, monkeypatch):
    """The fine-tuning stages pass --seed 1, 2, ... and reuse the corpus the first stage made
    with seed 0: the corpus has its own --synthetic-seed, so they are not refused."""
    import recipes.pretrained.__main__ as recipe

    asked = []

    def stop(data, out, synthetic, synthetic_seed, dev_words=()):
        asked.append((synthetic, synthetic_seed))
        raise CtcasrError("stop")

    monkeypatch.setattr(recipe, "prepare_all", stop)
    base = ["--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
            "--results", str(tmp_path / "RESULTS.md"), "--synthetic", "7"]  # fmt: skip
    assert recipe.main([*base, "--seed", "3"]) == 1
    assert recipe.main([*base, "--seed", "3", "--synthetic-seed", "2"]) == 1
    assert asked == [(7, 0), (7, 2)]
    assert recipe.main([*base, "--synthetic-seed", "-1"]) == 1
    assert asked == [(7, 0), (7, 2)]  # refused before preparing


def test_dev_words_stay_out_of_the_synthetic_corpus_and_the_rerun_command(
        tmp_path, prepared_corpora):  # fmt: skip
    """Held out of the real corpora but spoken by TTS, the dev words would not be unseen."""
    from recipes.pretrained.__main__ import parse_args, prepare_all, rerun_command

    out = tmp_path / "out"
    manifest = prepare_all(prepared_corpora, out, 3, 0, ("bed", "happy"))["synthetic"]
    record = json.loads((manifest.parent / "synthetic.settings.json").read_text())
    assert {"bed", "happy", *HELD_OUT_WORDS} == set(record["request"]["exclude"])
    with pytest.raises(CtcasrError, match=r"made with exclude \[bed, bird.*; remove "):
        prepare_all(prepared_corpora, out, 3, 0)  # the corpus holds words held out no more
    assert parse_args(["--dev-words", "Bed,happy"]).dev_words == ("bed", "happy")
    cfg = {"epochs": 5, "metadata": {"unseen_dev_words": ["bed", "happy"]}}
    assert rerun_command(cfg) == ("python -m recipes.pretrained --data ../shared/data "
                                  "--dev-words bed,happy --epochs 5")  # fmt: skip


def test_a_training_transcript_saying_an_unseen_word_is_refused():
    from ctcasr.manifest import ManifestEntry
    from recipes.pretrained.__main__ import check_unheard

    an4 = SimpleNamespace(train=[ManifestEntry("a.flac", "go forward two", 1.0)], dev=[])
    fsdd = SimpleNamespace(train=[ManifestEntry("b.flac", "seven", 1.0)], dev=[])
    check_unheard({"an4": an4, "fsdd": fsdd}, ("bird", "backward"))  # "forward" is no "backward"
    with pytest.raises(CtcasrError, match=r"^a\.flac: an4 train says forward, which must stay"):
        check_unheard({"an4": an4, "fsdd": fsdd}, ("bird", "forward"))


def test_a_dev_word_an4_or_fsdd_says_is_refused_before_speech_commands_is_prepared(
        tmp_path, monkeypatch):  # fmt: skip
    """--dev-words five (a digit) was refused only after Speech Commands had been prepared
    anew with it held out: its manifests then disagreed with the combined dev set and the
    unseen dev words of the data a stage had been trained and compared on."""
    import recipes.an4.prepare
    import recipes.fsdd.prepare
    import recipes.speech_commands.prepare
    from ctcasr.manifest import ManifestEntry
    from recipes.pretrained.__main__ import prepare_all

    for name in ("an4", "fsdd", "speech_commands", "noise"):
        (tmp_path / "data" / name).mkdir(parents=True)
    fsdd = SimpleNamespace(train=[ManifestEntry("5_jackson_9.flac", "five", 0.5)], dev=[])
    monkeypatch.setattr(recipes.an4.prepare, "prepare",
                        lambda *a, **k: SimpleNamespace(train=[], dev=[]))  # fmt: skip
    monkeypatch.setattr(recipes.fsdd.prepare, "prepare", lambda *a, **k: fsdd)
    prepared = []
    monkeypatch.setattr(recipes.speech_commands.prepare, "prepare",
                        lambda *a, **k: prepared.append(k) or SimpleNamespace(train=[], dev=[]))
    with pytest.raises(CtcasrError, match=r"^5_jackson_9\.flac: fsdd train says five, which "
                       "must stay unseen$"):  # fmt: skip
        prepare_all(tmp_path / "data", tmp_path / "out", 0, 0, ("bed", "five"))
    assert prepared == []
    prepare_all(tmp_path / "data", tmp_path / "out", 0, 0, ("bed",))
    assert prepared == [{"dev_words": ("bed",)}]


def test_a_stage_behind_the_model_must_have_held_the_dev_words_out(tmp_path, capsys):
    """Warm-started from a model that heard them, the dev words would score words it knows."""
    from ctcasr.bundle import average_bundles
    from recipes.common import check_never_heard
    from recipes.pretrained.__main__ import main
    from tests.helpers import tiny_bundle

    words = ("bed", "happy")
    held = {"unseen_dev_words": list(words)}
    tiny_bundle(tmp_path / "old" / "model", 1)  # recorded nothing: what it heard is unknown
    tiny_bundle(tmp_path / "a" / "model", 2, metadata=held)
    tiny_bundle(tmp_path / "b" / "model", 3, metadata=held)
    (tmp_path / "b" / "train_config.json").write_text(
        json.dumps({"init_from": str(tmp_path / "old" / "model")}))
    check_never_heard(tmp_path / "a" / "model", words, "--init-from")
    check_never_heard(tmp_path / "old" / "model", (), "--init-from")  # no dev words: any model
    with pytest.raises(CtcasrError, match=r"^--init-from .*/old/model: trained without holding "
                       r"out bed, happy; the unseen dev words must be kept out of every stage"):
        check_never_heard(tmp_path / "old" / "model", words, "--init-from")
    with pytest.raises(CtcasrError, match=r"b/model: trained without holding out bed, happy "
                       r"\(through .*/old/model\)"):  # started from one that heard them
        check_never_heard(tmp_path / "b" / "model", words, "--init-from")
    soup = average_bundles([tmp_path / "a" / "model", tmp_path / "old" / "model"],
                           tmp_path / "soup")  # fmt: skip
    with pytest.raises(CtcasrError, match=r"\(through .*/old/model\)"):
        check_never_heard(soup, words, "--average-with")
    # the recipe refuses it before preparing anything
    assert main(["--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "exp"),
                 "--dev-words", "bed,happy", "--init-from", str(tmp_path / "b" / "model")]) == 1
    assert "trained without holding out bed, happy" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()


def test_a_misspelled_dev_word_is_refused_as_such_before_init_from_is_checked(tmp_path, capsys):
    """``--dev-words hapy --init-from M`` blamed M for hearing "hapy", a word no corpus has."""
    import soundfile as sf

    from recipes.pretrained.__main__ import main
    from tests.helpers import tiny_bundle

    unknown = tmp_path / "data" / "speech_commands" / "_unknown_"
    unknown.mkdir(parents=True)
    sf.write(unknown / "happy_0000000a_nohash_0.wav", np.zeros(1600, np.float32), 16000)
    tiny_bundle(tmp_path / "old" / "model", 1)
    argv = ["--data", str(tmp_path / "data"), "--out", str(tmp_path / "exp"),
            "--init-from", str(tmp_path / "old" / "model")]  # fmt: skip
    assert main([*argv, "--dev-words", "hapy"]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {tmp_path / 'data' / 'speech_commands'}: no clips of the dev word(s) hapy")
    assert main([*argv, "--dev-words", "happy"]) == 1
    assert "trained without holding out happy" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()


def test_resume_with_other_dev_words_is_refused_before_preparing(tmp_path, capsys):
    """Resumed with dev words its first epochs trained on, a stage's bundle recorded them
    as held out, and every later stage's check of the chain passed it."""
    from recipes.pretrained.__main__ import main

    train_dir = tmp_path / "stage2"
    (train_dir / "checkpoints").mkdir(parents=True)
    (train_dir / "checkpoints" / "LATEST").write_text("epoch-0001\n")
    held = {"recipe": "recipes/pretrained", "unseen_dev_words": ["bed"]}
    (train_dir / "train_config.json").write_text(json.dumps({"metadata": held}))
    assert main(["--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "exp"),
                 "--train-dir", str(train_dir), "--results", str(tmp_path / "r" / "R.md"),
                 "--resume", "--dev-words", "bed,happy"]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {train_dir}: cannot resume with --dev-words bed,happy: the run was started "
        "with --dev-words bed; resume with --dev-words bed")
    assert not (tmp_path / "exp").exists() and not (tmp_path / "r").exists()


def test_a_soup_whose_sources_are_not_here_is_refused_for_what_it_says_it_heard(tmp_path):
    """The installed model is a soup of exp/pretrained/finetune* bundles that a checkout does
    not hold: --init-from it said "exp/pretrained/finetune11/model is not a model bundle", not
    that it heard the dev words."""
    from recipes.common import check_never_heard
    from tests.helpers import tiny_bundle

    gone = str(tmp_path / "exp" / "finetune11" / "model")
    tiny_bundle(tmp_path / "shipped", 1, metadata={"averaged_from": [gone]})
    with pytest.raises(CtcasrError, match=r"^--init-from .*/shipped: trained without holding "
                       r"out bed, happy; the unseen dev words must be kept out"):  # fmt: skip
        check_never_heard(tmp_path / "shipped", ("bed", "happy"), "--init-from")
    # one that says it held them out, but whose sources cannot be checked here
    tiny_bundle(tmp_path / "soup", 2, metadata={"averaged_from": [gone],
                                               "unseen_dev_words": ["bed", "happy"]})
    with pytest.raises(CtcasrError, match=rf"^--average-with .*/soup: cannot tell whether it "
                       rf"heard bed, happy: {re.escape(gone)}, a stage behind it, is not a "
                       "model bundle here$"):  # fmt: skip
        check_never_heard(tmp_path / "soup", ("bed", "happy"), "--average-with")


def test_one_of_n_on_the_dev_words_with_the_bundled_model(speech_commands_dir, tmp_path):
    """The scoring behind the unseen dev column, on real clips. The bundled model heard these
    words in training, so this checks the scoring, not how well unseen words are spelled."""
    from ctcasr.transcribe import Transcriber
    from recipes.speech_commands.__main__ import one_of_n
    from recipes.speech_commands.prepare import DEV_WORDS, prepare

    split = prepare(speech_commands_dir, tmp_path, dev_words=DEV_WORDS)
    scored = one_of_n(Transcriber(decoder="greedy", split=None), tmp_path / "unseen_dev.jsonl",
                      tmp_path / "unseen_dev_commands.txt")  # fmt: skip
    assert scored.count == len(split.unseen_dev) > 30 and scored.choices == len(DEV_WORDS)
    assert scored.accuracy >= 0.85
    assert len(scored.wrong) == scored.count - scored.right
    assert all(w in DEV_WORDS and c in DEV_WORDS and w != c for w, c in scored.wrong)


def test_dev_compare_adds_the_dev_words_for_bundles_that_never_heard_them(
        tmp_path, speech_commands_dir):  # fmt: skip
    from ctcasr.transcribe import Transcriber
    from recipes.pretrained.dev_compare import unseen_dev_score
    from recipes.speech_commands.prepare import prepare
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "heard" / "model", 1)
    tiny_bundle(tmp_path / "fresh" / "model", 1, metadata={"unseen_dev_words": ["bed"]})
    data = tmp_path / "data"
    prepare(speech_commands_dir, data)
    heard = Transcriber(tmp_path / "heard" / "model", decoder="greedy", backend="keras")
    assert unseen_dev_score(heard, data) is None  # prepared without dev words
    prepare(speech_commands_dir, data, dev_words=["bed"])
    assert unseen_dev_score(heard, data) == "heard"
    fresh = Transcriber(tmp_path / "fresh" / "model", decoder="greedy", backend="keras")
    right, count = map(int, unseen_dev_score(fresh, data).split("/"))
    assert count == 9 and right == 9  # one of one word: always right
