"""split_list: balanced contiguous splits by utterance, whole speakers by speaker, bad inputs."""

import pytest

from pylib.bin import split_list
from pylib.errors import DataError, UserError
from pylib.io.split import split_by_speaker, split_even


@pytest.mark.parametrize("n_items,n", [(10, 3), (7, 7), (5, 1), (100, 8)])
def test_split_even_balanced_and_in_order(n_items, n):
    items = list(range(n_items))
    parts = split_even(items, n)
    assert len(parts) == n
    assert sum(parts, []) == items
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_split_by_speaker_keeps_speakers_whole_and_balances():
    ids = [f"u{i:02d}" for i in range(20)]
    spk = {u: f"s{(i * 7) % 5}" for i, u in enumerate(ids)}
    parts = split_by_speaker(ids, spk, 3)
    assert sorted(sum(parts, [])) == ids
    for s in set(spk.values()):
        assert sum(any(spk[u] == s for u in p) for p in parts) == 1  # each speaker in exactly one part
    assert sorted(len(p) for p in parts) == [4, 8, 8]  # 5 speakers x 4 utterances: the best balance
    for p in parts:
        assert p == sorted(p)  # input order kept


def test_split_by_speaker_errors():
    with pytest.raises(DataError, match="2 speakers into 3 parts"):
        split_by_speaker(["a", "b"], {"a": "x", "b": "y"}, 3)
    with pytest.raises(DataError, match="no speaker for 1"):
        split_by_speaker(["a", "b"], {"a": "x"}, 1)
    with pytest.raises(DataError, match="3 utterances into 4"):
        split_even([1, 2, 3], 4)


def test_cli_prefix_form_keeps_lines(tmp_path, capsys):
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"u{i} /data/u{i}.wav\n" for i in range(5)))
    assert split_list.main([str(scp), "2", "--out", str(tmp_path / "wav.scp.part")]) == 0
    assert (tmp_path / "wav.scp.part.1").read_text() == "u0 /data/u0.wav\nu1 /data/u1.wav\nu2 /data/u2.wav\n"
    assert (tmp_path / "wav.scp.part.2").read_text() == "u3 /data/u3.wav\nu4 /data/u4.wav\n"
    assert "into 2 parts (3 2 lines)" in capsys.readouterr().out


def test_cli_dir_form_by_speaker_writes_utt2spk(tmp_path):
    lst = tmp_path / "train.lst"
    lst.write_text("a1\na2\na3\nb1\nc1\nc2\n")
    (tmp_path / "utt2spk").write_text("a1 A\na2 A\na3 A\nb1 B\nc1 C\nc2 C\n")
    assert split_list.main([str(lst), "2", "--out-dir", str(tmp_path / "split2"),
                            "--utt2spk", str(tmp_path / "utt2spk")]) == 0
    p1 = (tmp_path / "split2" / "1" / "train.lst").read_text().split()
    p2 = (tmp_path / "split2" / "2" / "train.lst").read_text().split()
    assert p1 == ["a1", "a2", "a3"] and p2 == ["b1", "c1", "c2"]
    assert (tmp_path / "split2" / "2" / "utt2spk").read_text() == "b1 B\nc1 C\nc2 C\n"


def test_cli_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="nope.lst: file not found"):
        split_list.main([str(tmp_path / "nope.lst"), "2", "--out", str(tmp_path / "x")])
    dup = tmp_path / "dup.lst"
    dup.write_text("a\nb\na\n")
    with pytest.raises(DataError, match=r"dup.lst:3: duplicate id 'a' \(first on line 1\)"):
        split_list.main([str(dup), "2", "--out", str(tmp_path / "x")])
    with pytest.raises(UserError, match=">= 1"):
        split_list.main([str(dup), "0", "--out", str(tmp_path / "x")])
    empty = tmp_path / "empty.lst"
    empty.write_text("\n")
    with pytest.raises(DataError, match="empty"):
        split_list.main([str(empty), "1", "--out", str(tmp_path / "x")])
