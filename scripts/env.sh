# Source this to use the toolchain that scripts/setup.sh chose:  source scripts/env.sh
_lf_env=${LIVEFORM_CACHE:-$HOME/.cache/liveform}/env.sh
if [ -f "$_lf_env" ]; then
  # shellcheck disable=SC1090
  source "$_lf_env"
else
  echo "liveform: run 'bash scripts/setup.sh' first" >&2
fi
unset _lf_env
