#!/usr/bin/env bash
# Rebuilds the support app's shipped router (agents/router_model/): the classifier trained on
# agents/routes.yaml with outlier exposure (a "none of these" class) from public questions:
#
#   Natural Questions, NQ-open splits (Kwiatkowski et al. 2019; Lee et al. 2019), CC BY-SA 3.0,
#     https://github.com/google-research-datasets/natural-questions (nq_open/)
#   XQuAD, Spanish and German (Artetxe et al. 2020), CC BY-SA 4.0,
#     https://github.com/google-deepmind/xquad
#   SQuAD-it, test split (Croce et al. 2018), CC BY-SA 4.0, https://github.com/crux82/squad-it
#   FaQuAD, Portuguese (Sayama et al. 2019), CC BY 4.0, https://github.com/liafacom/faquad
#
# An equal share of the sample comes from each file (3000 in all: ~1290 English questions,
# ~430 each in Spanish, German, Italian and Portuguese).
#
# The corpora are downloaded at pinned commits and checked by SHA-256; they are not stored in
# this repository (only the trained weights are). Run after editing agents/routes.yaml:
#   bash agents/router_model/build.sh            # downloads into a temp dir
#   bash agents/router_model/build.sh DIR        # uses the files already in DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
NQ=https://raw.githubusercontent.com/google-research-datasets/natural-questions/fb26a3073b1fe636c97302890a27b491d6530130/nq_open
XQ=https://raw.githubusercontent.com/google-deepmind/xquad/7d30520c717524000f0d9d2f9c10a069acd9d285
IT=https://raw.githubusercontent.com/crux82/squad-it/86a19baebed654d07c4e790c07d39a02ceb6b15f
PT=https://raw.githubusercontent.com/liafacom/faquad/6ad978f20672bb41625b3b71fbe4a88b893d0a86/data
FILES=(
  "$NQ/NQ-open.dev.jsonl f15567f38099f3615f5b8a685c0aef449c11ad90d3da3735e8d1b98115b40616"
  "$NQ/NQ-open.efficientqa.dev.1.1.jsonl 0ad45e2fa9fd32d10b3cf08c63e6d22f97ba1a0ce44ea98040f4c18bce7e268d"
  "$NQ/NQ-open.efficientqa.test.1.1.no-annotations.jsonl eef2c7f0197dd26cd837b05acdd19c92fbb716cb9d7d4208cb11e577577f74d0"
  "$XQ/xquad.es.json dcbae93ec3a9f4b9e78fd834a171d6f96c1a875e10e15b7530b7e4ef4971e37e"
  "$XQ/xquad.de.json 990b5d746746ed65ed4702ea5f35f99ffa4e2f1c390c07d003642acd937916f9"
  "$IT/SQuAD_it-test.json.gz 25986c617cc7d58e82e916755b8a5684e5efae69835332858a6534a304cd293c"
  "$PT/dataset.json bd515d8890a9ff02a50aeb07ce76be408be54e9e384ce989caec1045a8e04588"
)
DIR=${1:-$(mktemp -d)}
args=()
for entry in "${FILES[@]}"; do
  url=${entry% *}; sum=${entry#* }; file="$DIR/$(basename "$url")"
  [ -f "$file" ] || curl -fsSL -o "$file" "$url"
  echo "$sum  $file" | sha256sum --check --quiet
  args+=(--outliers "$file")
done
PYTHON=${PYTHON:-python3}
"$PYTHON" -m coordinator routes train --routes agents/routes.yaml "${args[@]}" \
  --out agents/router_model
