"""The fixed sections of the bundled model's card: intended use, what it was not trained or
measured for, the speakers and recordings it heard, and each training source with its address,
licence and the notice it asks for.

Someone deciding whether they may ship the model needs these facts, and the card only named
licences in passing (no addresses, no copyright holders, nothing for the TTS voices or the word
list). Figures here are the per-corpus recipes' RESULTS pages' (the splits this recipe reuses);
licences are as each corpus states them and, for the TTS engines, voices and word list, as
their Debian packages' ``/usr/share/doc/<package>/copyright`` state them.
"""

from __future__ import annotations

import textwrap

from recipes.an4.prepare import URL as AN4_URL
from recipes.fsdd.prepare import URL as FSDD_URL
from recipes.speech_commands.prepare import TEST_SET_URL as SC_TEST_SET_URL
from recipes.speech_commands.prepare import URL as SC_URL
from recipes.synthetic.generate import ESPEAK_ACCENTS, FESTIVAL_VOICES, FLITE_VOICES

# Train split of each real corpus, from recipes/{an4,fsdd,speech_commands}/RESULTS.md
# (tests/test_recipe_pretrained.py checks them against those pages).
TRAIN_MINUTES = {"an4": "38.0", "fsdd": "17.5", "speech_commands": "29.9"}
TRAIN_SPEAKERS = {"an4": 66, "fsdd": 6, "speech_commands": 88}
FOUR_CONDITIONS = ("permissive: use, copy, modify and distribute, keeping the notice, marking "
                   "modifications, keeping the authors' names, not using them to endorse")

LIMITS = textwrap.wrap(
    "Limits: close-talking English, short utterances, a CPU-trained model from about 85 "
    "minutes of real speech (AN4, FSDD and Speech Commands train: "
    f"{TRAIN_MINUTES['an4']}, {TRAIN_MINUTES['fsdd']} and {TRAIN_MINUTES['speech_commands']} "
    "min, in the recipes' RESULTS pages); accuracy drops when much more silence surrounds the "
    "speech than in the training recordings (per-utterance feature normalisation). Output is "
    "spelled, so unusual words come out phonetically spelled unless a command list "
    "(`--commands`), word list or hotwords constrain them.", width=88, break_on_hyphens=False)

USE = (
    "## Intended use",
    "",
    "Short, close-talked English utterances transcribed on a CPU, the kinds its test sets",
    "measure: commands and single words (best through a command list, `--commands`), digits",
    "and digit strings, spelled letters and short census-style answers like AN4's (names,",
    "numbers, dates). Output is lowercase letters, space and apostrophe: digits come out as",
    "words (\"seven\"), with no punctuation or casing. The default LM knows only the real",
    "corpora's training words and digit strings; other words rest on the model's spelling.",
    "",
    "## Out of scope (not trained or measured for)",
    "",
    "- Languages other than English.",
    "- Long or conversational speech, dictation, meetings: training utterances are single",
    "  words and short phrases.",
    "- Far-field or reverberant rooms and speech in more noise than the training mix (noise",
    "  and synthetic reverberation were added in training; no test set adds either).",
    "- Speaker identification, language identification, or any judgement about the speaker:",
    "  the model only spells what it hears.",
    "",
    "## Speakers and recordings heard in training",
    "",
    f"- AN4: {TRAIN_SPEAKERS['an4']} train speakers, recorded at CMU around 1991 on a "
    "close-talking",
    "  microphone, 16 kHz.",
    f"- FSDD: {TRAIN_SPEAKERS['fsdd']} speakers, all male, English with US (2), German (2), "
    "Belgian French (1)",
    "  and Greek (1) accents (its `metadata.py`); 8 kHz recordings, upsampled to 16 kHz.",
    f"- Speech Commands: {TRAIN_SPEAKERS['speech_commands']} train speakers, 1 s clips at 16 "
    "kHz; accent and gender are not",
    "  labelled.",
    *textwrap.wrap(
        f"- Synthetic: espeak-ng accents {', '.join(ESPEAK_ACCENTS)}; flite voices "
        f"{', '.join(FLITE_VOICES)}; festival voices {', '.join(FESTIVAL_VOICES)}; resampled "
        "to 16 kHz, some band-limited to telephone or 8 kHz bandwidth.", width=88,
        subsequent_indent="  ", break_on_hyphens=False),
    "- Any input is resampled to 16 kHz. Narrow-band (8 kHz, telephone) speech was heard only",
    "  as FSDD digits and band-limited synthetic speech.",
)

LICENCES = (
    "## Training data and licences",
    "",
    "As each source states its terms: the corpora's own LICENSE and README files and, for",
    "the TTS engines, voices and word list, the Debian packages'",
    "`/usr/share/doc/<package>/copyright` (versions as installed on the project's build",
    "machine). Dev splits (checkpoint choice, decoder tuning) come from the same corpora.",
    "No audio, synthetic clip or word list",
    "ships in the bundle; `lm.arpa` is built from the AN4, FSDD and Speech Commands train",
    "transcripts and the project's own digit strings (`lm/corpora/digits.txt`).",
    "",
    "| source | used for | from | licence | notice it asks for (copyright holders) |",
    "|---|---|---|---|---|",
    "| AN4, CMU census database | train speech and transcripts (LM) | "
    f"{AN4_URL} | CMU AN4 terms (`an4/LICENSE`): \"free for use for any purpose (commercial or "
    "otherwise)\"; BSD-style | \"Copyright (c) 1991-2005 Carnegie Mellon University. All rights "
    "reserved.\", with its conditions and disclaimer in the documentation of binary "
    "redistributions |",
    "| Free Spoken Digit Dataset (FSDD), Jakobovski/free-spoken-digit-dataset "
    "contributors | train speech and transcripts (LM) | "
    f"{FSDD_URL} | CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/ | attribution "
    "and a link to the licence; adaptations that are shared must be under the same or a "
    "compatible licence (ShareAlike) |",
    "| Speech Commands v0.02, Pete Warden (Google) | train speakers' speech and transcripts "
    "(LM); its `_background_noise_` recordings as noise | "
    f"{SC_TEST_SET_URL} (speech), {SC_URL} (noise) | CC BY 4.0, "
    "https://creativecommons.org/licenses/by/4.0/ | attribution and a link to the licence; its "
    "paper: Warden, \"Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition\", "
    "arXiv:1804.03209 (2018) |",
    "| noise recordings: air conditioner, forest, music, rain, water, wind | noise "
    "augmentation | not recorded | MIT, per the project's data README | not recorded: "
    "the copyright holder the MIT notice names is unknown to the project |",
    "| espeak-ng 1.51 with espeak-ng-data | synthetic speech | "
    "https://github.com/espeak-ng/espeak-ng | GPL-3.0-or-later | Jonathan Duddington "
    "2005-2014, Reece H. Dunn 2013-2016 and others |",
    f"| flite 2.2, voices {', '.join(FLITE_VOICES)} | synthetic speech | http://cmuflite.org "
    f"| CMU licence, {FOUR_CONDITIONS} | Copyright (c) 1999-2001 Language Technologies "
    "Institute, Carnegie Mellon University |",
    "| festival 2.5 | synthetic speech | http://www.festvox.org/packed/festival/ | CSTR "
    f"licence, {FOUR_CONDITIONS} | Copyright (C) 1996-2017 Centre for Speech Technology "
    "Research, University of Edinburgh, UK |",
    "| festvox-kallpc16k (kal_diphone) | synthetic speech | "
    "http://www.cstr.ed.ac.uk/projects/festival.html | the same four conditions | Copyright "
    "(c) 1998 Alan W Black and Kevin Lenzo |",
    "| festvox-kdlpc16k (ked_diphone) | synthetic speech | "
    "http://www.cstr.ed.ac.uk/projects/festival.html | the same four conditions | Copyright "
    "(c) 1997 Centre for Speech Technology Research, University of Edinburgh, UK |",
    "| festvox-us-slt-hts (cmu_us_slt_arctic_hts) | synthetic speech | "
    "http://festvox.org/packed/festival/2.1/ | EST-2003 (keep the notice, mark "
    "modifications, keep the authors' names); parts EST-2000 and BSD-3-clause | Copyright "
    "2003 Carnegie Mellon University; parts 2001-2010 Nagoya Institute of Technology |",
    "| wamerican 2020.12.07 (SCOWL, `/usr/share/dict/words`) | the words the synthetic clips "
    "say | http://wordlist.sourceforge.net/ | SCOWL licence: use, copy, modify, distribute "
    "and sell, with the notice in all copies | Copyright 2000-2011 by Kevin Atkinson, "
    "and its sources' notices (WordNet 1.6 Princeton University, UKACD J Ross Beresford, "
    "Ispell Geoff Kuenning) |",
    "",
    "Licence of the weights: none is declared for `model.onnx` or `lm.arpa` themselves. They",
    "ship inside the ctcasr package, which `pyproject.toml` declares MIT (`LICENSE`); the",
    "project does not say whether that covers the weights, nor how it relates to the terms",
    "above.",
)
