#!/usr/bin/env bash
# Generate prompt audio from the text files: ivr_flows/prompts/LANG/[DIR/]NAME.txt
# → NAME.wav (8 kHz mono 16-bit, what Asterisk plays without transcoding).
# The text is the source; audio is regenerated when the text is newer.
source "$(dirname "$0")/lib.sh"

apt_install espeak-ng sox
declare -A VOICE=([zh]=cmn [en]=en-us)
count=0
PROMPTS="$PROJECT_ROOT/ivr_flows/prompts"
while IFS= read -r txt; do
    rel="${txt#"$PROMPTS"/}"
    lang="${rel%%/*}"
    wav="${txt%.txt}.wav"
    [ -f "$wav" ] && [ "$wav" -nt "$txt" ] && continue
    voice="${VOICE[$lang]:-$lang}"
    tmp=$(mktemp --suffix=.wav)
    espeak-ng -v "$voice" -s 175 -w "$tmp" -f "$txt" || die "espeak-ng failed on $txt"
    sox -q "$tmp" -r 8000 -c 1 -b 16 "$wav" gain -n -3 || die "sox failed on $txt"
    rm -f "$tmp"
    count=$((count + 1))
done < <(find "$PROMPTS" -mindepth 2 -name '*.txt' | sort)
[ "$count" -gt 0 ] && step "generated $count prompt(s)" || skip "prompts"
