"""Stage 5 of egs/vctk/blow: the listening page of converted speech (index.html next to the wavs).

    python local/vc_page.py --pairs exp/blow/convert_test/pairs.txt --utt2spk data/test/utt2spk \
        --source-dir dump/test/wav --conv-dir exp/blow/convert_test [--ref-dir dump/train/wav \
        --ref-utt2spk data/train/utt2spk]

One row per conversion: the utterance, its source and target speakers, the source audio, the converted
audio and (with --ref-*) one training utterance of the target speaker for comparison. Voice
conversion has no natural reference of the converted utterance, so no signal metric is computed;
the page says how many files it lists and their durations.
"""

import argparse
import html
import os
import sys
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError
from pylib.io.atomic import write_text_atomic
from pylib.io.audio import audio_info
from pylib.io.tables import read_table, read_utt2spk


def _rel(path, base):
    return html.escape(os.path.relpath(Path(path).resolve(), base).replace(os.sep, "/"), quote=True)


def _player(path, base):
    return f'<audio controls preload="none" src="{_rel(path, base)}"></audio>'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", required=True, help="`utt target` lines of stage 4")
    p.add_argument("--utt2spk", required=True, help="utt2spk of the converted set")
    p.add_argument("--source-dir", required=True, help="folder of the source wavs (<utt>.wav)")
    p.add_argument("--conv-dir", required=True, help="folder of the converted wavs; the page goes here")
    p.add_argument("--ref-dir", default=None, help="folder of the training wavs (target references)")
    p.add_argument("--ref-utt2spk", default=None, help="utt2spk of the training set")
    args = p.parse_args(argv)
    conv_dir = Path(args.conv_dir).resolve()
    pairs, utt2spk = read_table(args.pairs), read_utt2spk(args.utt2spk)
    refs = {}
    if args.ref_dir and args.ref_utt2spk:
        for utt, spk in sorted(read_utt2spk(args.ref_utt2spk).items()):
            if (Path(args.ref_dir) / f"{utt}.wav").is_file():
                refs.setdefault(spk, Path(args.ref_dir) / f"{utt}.wav")
    rows, seconds = [], 0.0
    for utt, tgt in pairs.items():
        conv, src = conv_dir / f"{utt}.wav", Path(args.source_dir) / f"{utt}.wav"
        for f, stage in ((conv, 4), (src, 1)):
            if not f.is_file():
                raise DataError(f"{f}: missing; run stage {stage} first")
        sr, n = audio_info(conv)
        seconds += n / sr
        ref = _player(refs[tgt], conv_dir) if tgt in refs else ""
        rows.append(f"<tr><td>{html.escape(utt)}</td><td>{html.escape(utt2spk.get(utt, '?'))}</td>"
                    f"<td>{html.escape(tgt)}</td><td>{_player(src, conv_dir)}</td>"
                    f"<td>{_player(conv, conv_dir)}</td><td>{ref}</td></tr>")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Blow voice conversion</title>
<style>body{{font-family:sans-serif}} td{{padding:4px;border-bottom:1px solid #ccc}}</style></head><body>
<h1>Blow voice conversion</h1>
<p>{len(rows)} converted utterances, {seconds:.1f} s in all. No signal metric: a converted utterance has
no natural reference; listen against the target speaker's own recording.</p>
<table><tr><th>utterance</th><th>source speaker</th><th>target speaker</th><th>source</th>
<th>converted</th><th>target speaker (training utterance)</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    write_text_atomic(conv_dir / "index.html", page)
    print(f"listening page: {conv_dir / 'index.html'} ({len(rows)} utterances)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
