#!/usr/bin/env bash
# `dvc plots show` / `dvc plots diff` without a network: DVC's page loads Vega, Vega-Lite and Vega-Embed from a CDN,
# which offline leaves the page blank. This fetches the same versions from the npm registry once, inlines them into
# an HTML template (.dvc/offline_plots.html, git-ignored) and points DVC at it in .dvc/config.local.
# Idempotent: does nothing when the template is there. Needs npm (Debian's `npm`) and the registry, at set-up only.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="$repo_root/.dvc/offline_plots.html"
# the versions dvc-render's own page asks the CDN for (dvc_render/vega.py)
packages=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
dvc="${DVC:-$repo_root/.venv/bin/dvc}"
[ -x "$dvc" ] || dvc="$(command -v dvc || echo dvc)"

if [ ! -s "$template" ]; then
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "${packages[@]}" > /dev/null)
  {
    printf '<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<title>DVC Plot</title>\n'
    printf '<!-- %s, inlined by scripts/setup_dvc_plots.sh: this page needs no network -->\n' "${packages[*]}"
    for pkg in "${packages[@]}"; do
      name="${pkg%@*}"
      printf '<script>\n'
      tar -xzOf "$work/$name-${pkg#*@}.tgz" "package/build/$name.min.js"
      printf '\n</script>\n'
    done
    printf '<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n'
  } > "$template.tmp"
  mv "$template.tmp" "$template"
fi
(cd "$repo_root" && "$dvc" config --local plots.html_template offline_plots.html)
echo "setup_dvc_plots: $template ($(du -k "$template" | cut -f1) KiB: ${packages[*]})"
