#!/usr/bin/env bash
# Download and unpack one corpus archive, resumably; nothing happens when it is already unpacked.
#   utils/download.sh DEST FOLDER URL [URL ...]   (stage 0 of recipes whose corpus can be fetched)
# DEST/FOLDER is what the archive unpacks to; the URLs are tried in order (mirrors, release names).
# A broken connection keeps the partial DEST/<archive>; the next run continues it (curl -C - /
# wget -c); <archive>.done marks a finished download and DEST/FOLDER/.complete a finished unpack,
# so an interrupted tar is redone without downloading again.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 DEST FOLDER URL [URL ...]" >&2
  exit 2
fi
dest=$1 folder=$2
shift 2
if [ -f "$dest/$folder/.complete" ]; then
  echo "$dest/$folder: already there, not downloading"
  exit 0
fi
mkdir -p "$dest"
for url in "$@"; do
  archive=$dest/$(basename "$url")
  if [ -f "$archive.done" ]; then
    echo "$archive: downloaded already"
  elif command -v curl > /dev/null; then
    echo "downloading $url -> $archive"
    curl -fL --retry 3 -C - -o "$archive" "$url" || { echo "failed: $url" >&2; continue; }
  elif command -v wget > /dev/null; then
    echo "downloading $url -> $archive"
    wget -c -O "$archive" "$url" || { echo "failed: $url" >&2; continue; }
  else
    echo "$0: neither curl nor wget is installed; download $url by hand and rerun with --db" >&2
    exit 1
  fi
  touch "$archive.done"
  echo "unpacking $archive -> $dest/$folder"
  tar -xf "$archive" -C "$dest"
  if [ ! -d "$dest/$folder" ]; then
    echo "$0: $archive did not unpack to $dest/$folder; remove the archive and rerun" >&2
    exit 1
  fi
  touch "$dest/$folder/.complete"
  exit 0
done
echo "$0: could not download $folder from any of: $*; download it by hand and rerun with --db DIR" >&2
exit 1
