# Sourced by tests/systemd/run: nests the script's shell in cgroups of its own before
# systemd-nspawn starts, so that the container's cgroup namespace is rooted in them and whatever
# the container's systemd creates lands below them, never elsewhere on the host; removes them at
# the end. Only cgroups created here are written to (cgroup.procs of the original cgroups when
# the shell moves back).
#
# cg_nest NAME: a child cgroup NAME under the shell's current cgroup in the memory hierarchy
#   (cgroup v1), the name=systemd hierarchy and the unified (cgroup2) hierarchy, the shell moved
#   into each. Sets CG_MEMORY (the host path of the memory child; empty when there is no v1
#   memory hierarchy) and CG_MODE (hybrid, unified or legacy). Non-zero with a reason in
#   CG_NOTE when nothing was done.
# cg_unnest: moves the shell back, removes the children depth-first (the container must be
#   down); prints what it could not remove.
CG_CREATED=()
CG_ORIG=()
CG_MEMORY=
CG_MODE=
CG_NOTE=

# _cg_path HIERARCHY-FIELD: the shell's cgroup in that hierarchy, from /proc/self/cgroup
# ("memory", "name=systemd", or "" for cgroup2).
_cg_path() { awk -F: -v h="$1" '$2 == h { print $3; exit }' "/proc/$$/cgroup"; }

cg_nest() {
  local name=$1 fs mnt field path dir
  fs=$(stat -f -c %T /sys/fs/cgroup 2>/dev/null || true)
  if [ "$fs" = cgroup2fs ]; then
    CG_MODE=unified
    # On a pure cgroup2 host the memory controller would have to be enabled in the parent's
    # cgroup.subtree_control, which the "no internal processes" rule forbids while other
    # processes (this shell's siblings) live in that parent: not done here.
    CG_NOTE="pure cgroup2 host: delegating the memory controller needs the launching shell's parent cgroup emptied of other processes"
    return 1
  fi
  [ -d /sys/fs/cgroup/unified ] && CG_MODE=hybrid || CG_MODE=legacy
  for field in memory name=systemd ""; do
    case $field in
      memory) mnt=/sys/fs/cgroup/memory ;;
      name=systemd) mnt=/sys/fs/cgroup/systemd ;;
      "") mnt=/sys/fs/cgroup/unified ;;
    esac
    [ -d "$mnt" ] || continue
    path=$(_cg_path "$field")
    [ -n "$path" ] || continue
    dir="$mnt${path%/}/$name"
    if ! mkdir "$dir" 2>/dev/null; then
      CG_NOTE="cannot create $dir"
      cg_unnest
      return 1
    fi
    CG_CREATED+=("$dir")
    CG_ORIG+=("$mnt$path")
    if ! echo $$ >"$dir/cgroup.procs" 2>/dev/null; then
      CG_NOTE="cannot move the shell into $dir"
      cg_unnest
      return 1
    fi
    [ "$field" = memory ] && CG_MEMORY=$dir
  done
  [ -n "$CG_MEMORY" ] || { CG_NOTE="no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"; cg_unnest; return 1; }
  return 0
}

cg_unnest() {
  local i d
  for i in "${!CG_ORIG[@]}"; do
    echo $$ >"${CG_ORIG[$i]}/cgroup.procs" 2>/dev/null || true
  done
  for d in "${CG_CREATED[@]+"${CG_CREATED[@]}"}"; do
    [ -d "$d" ] || continue
    # Children first; a cgroup directory is removed with rmdir (its files are not removable).
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ ! -d "$d" ] || printf 'cgroup.sh: could not remove %s (processes left: %s)\n' "$d" \
      "$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')" >&2
  done
  CG_CREATED=() CG_ORIG=() CG_MEMORY=
}
