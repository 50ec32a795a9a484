"""File formats of nnsp: raw `<f4` features, wav/flac audio, Kaldi tables and ark/scp."""

from pylib.io.atomic import atomic_path, write_text_atomic
from pylib.io.audio import audio_info, read_wav, read_wav_entry, write_wav
from pylib.io.f4 import check_finite_array, num_frames_f4, open_f4, read_f4, write_f4
from pylib.io.kaldi import f4_to_kaldi, kaldi_to_f4
from pylib.io.tables import (
    read_list,
    read_table,
    read_utt2label,
    read_utt2num_frames,
    read_utt2spk,
    read_wav_scp,
    write_list,
    write_table,
)

__all__ = [
    "atomic_path",
    "audio_info",
    "check_finite_array",
    "f4_to_kaldi",
    "kaldi_to_f4",
    "num_frames_f4",
    "open_f4",
    "read_f4",
    "read_list",
    "read_table",
    "read_utt2label",
    "read_utt2num_frames",
    "read_utt2spk",
    "read_wav",
    "read_wav_entry",
    "read_wav_scp",
    "write_f4",
    "write_list",
    "write_table",
    "write_text_atomic",
    "write_wav",
]
