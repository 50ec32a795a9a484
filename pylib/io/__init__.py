"""File formats of nnsp: raw `<f4` features, wav/flac audio, Kaldi tables and ark/scp."""

from pylib.io.atomic import atomic_path, make_folder, write_bytes_atomic, write_text_atomic
from pylib.io.audio import audio_info, read_wav, read_wav_entry, write_wav
from pylib.io.f4 import check_finite_array, num_frames_f4, open_f4, read_f4, write_f4
from pylib.io.kaldi import f4_to_kaldi, kaldi_to_f4
from pylib.io.names import check_name, check_not_input, check_out_dir, name_problem, safe_join, strip_bom
from pylib.io.tables import (
    read_list,
    read_table,
    read_utt2label,
    read_utt2num_frames,
    read_utt2spk,
    read_wav_scp,
    write_list,
    write_table,
    write_utt2label,
)
from pylib.io.text import decode_utf8, read_utf8

__all__ = [
    "atomic_path",
    "audio_info",
    "check_finite_array",
    "check_name",
    "check_not_input",
    "check_out_dir",
    "decode_utf8",
    "f4_to_kaldi",
    "kaldi_to_f4",
    "make_folder",
    "name_problem",
    "num_frames_f4",
    "open_f4",
    "read_f4",
    "read_list",
    "read_table",
    "read_utf8",
    "read_utt2label",
    "read_utt2num_frames",
    "read_utt2spk",
    "read_wav",
    "read_wav_entry",
    "read_wav_scp",
    "safe_join",
    "strip_bom",
    "write_bytes_atomic",
    "write_f4",
    "write_list",
    "write_table",
    "write_text_atomic",
    "write_utt2label",
    "write_wav",
]
