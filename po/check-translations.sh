#!/bin/sh
# po/check-translations.sh SRCDIR LANG: fail when LANG.po lacks a string of the current sources
# (extracted from po/POTFILES as meson's glib preset does) or has a fuzzy or invalid entry.
set -eu
src=$1
lang=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$src/po/POTFILES" > "$tmp/files"
xgettext --from-code=UTF-8 --directory="$src" --files-from="$tmp/files" -o "$tmp/glimmer.pot" \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dcgettext:2 \
  --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 --flag=N_:1:pass-c-format \
  --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format --flag=g_dngettext:2:pass-c-format \
  --flag=g_strdup_printf:1:c-format --flag=g_string_printf:2:c-format \
  --flag=g_string_append_printf:2:c-format --flag=g_error_new:3:c-format \
  --flag=g_set_error:4:c-format
msgmerge --quiet --no-fuzzy-matching "$src/po/$lang.po" "$tmp/glimmer.pot" -o "$tmp/merged.po"
stats=$(msgfmt --check --statistics -o /dev/null "$tmp/merged.po" 2>&1)
echo "$lang: $stats"
case "$stats" in
  *untranslated*|*fuzzy*) exit 1 ;;
esac
