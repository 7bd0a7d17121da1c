#!/bin/bash
# hardway: the secrets of node worker-2 (secrets.delivery: archive), run by install.sh before
# anything needs them: obtain the archive (file), check it against the SHA-256 below (pinned in the
# user-data), unpack it with its modes into the key directories, remove the fetched copy.
set -Eeuo pipefail
want='4e26c46e92ae82078b42780fc3a18709eacdcab1a95c055ac6d619acaf82325e'
archive='/run/hardway/secrets.tar'
fail() { echo "hardway: secrets archive: $*" >&2; exit 1; }
# Put here by the operator's tool (Terraform file provisioner, scp, SSM, a config drive): wait for it,
# and for its size to settle (a copy in progress).
deadline=$((SECONDS + 900))
until [ -f "$archive" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "no archive at $archive after 900 s"
  sleep 2
done
size=-1
until [ "$(stat -c %s "$archive")" = "$size" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "$archive still growing after 900 s"
  size=$(stat -c %s "$archive")
  sleep 2
done
if ! echo "$want  $archive" | sha256sum -c --quiet - >/dev/null 2>&1; then
  rm -f "$archive"
  fail "$archive does not match the sha256 pinned in the user-data ($want)"
fi
umask 077
tar -x -p -f "$archive" -C / --no-same-owner --no-overwrite-dir || fail "cannot unpack $archive"
rm -f "$archive"
echo "hardway: secrets unpacked"
