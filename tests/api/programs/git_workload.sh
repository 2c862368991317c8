#!/usr/bin/env bash
# git_workload.sh -- a deterministic git session in the current (empty, temp)
# directory: init, a few hundred files, several commits with edits, renames
# and deletions, log --stat, grep, diff, gc, fsck, rev-list, cat-file.
# Run it through `run_compare.sh --cwd-temp`: it writes ./home and ./repo.
# Names, e-mails and dates are fixed, HOME is ./home and the system config is
# ignored, so object ids and all of stdout are the same in every run; no temp
# path is printed.  Output is never cut with `head` (a SIGPIPE would be a race).  Exits 77 (skip) when git is not installed.
set -euo pipefail
if ! command -v git >/dev/null 2>&1; then
    echo "git_workload: no git installed" >&2
    exit 77
fi
if [ -e repo ] || [ -e home ]; then
    echo "git_workload: run me in an empty directory (see run_compare.sh --cwd-temp)" >&2
    exit 2
fi

# --- a fixed identity and clock; no outside configuration ---------------------
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES \
      GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_NAMESPACE GIT_CEILING_DIRECTORIES \
      GIT_TRACE GIT_EXEC_PATH
mkdir home
export HOME="$PWD/home" XDG_CONFIG_HOME="$PWD/home/.config"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Ada Warden" GIT_AUTHOR_EMAIL="ada@warden.example"
export GIT_COMMITTER_NAME="Bob Warden" GIT_COMMITTER_EMAIL="bob@warden.example"
export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0 GIT_EDITOR=true
export GIT_PROGRESS_DELAY=1000000
set_date() { # set_date N: the clock of commit N
    export GIT_AUTHOR_DATE="$((1700000000 + $1 * 86400)) +0000"
    export GIT_COMMITTER_DATE="$((1700000000 + $1 * 86400 + 3600)) +0000"
}
set_date 0

# gen_file PATH SEED LINES: deterministic text
gen_file() {
    local path="$1" seed="$2" lines="$3" i x="$2"
    mkdir -p "$(dirname "$path")"
    {
        echo "/* $path, generation $seed */"
        for ((i = 0; i < lines; i++)); do
            x=$(((x * 1103515245 + 12345) % 2147483648))
            echo "line $i of $path: value $x $((x % 97)) $((x % 7 == 0 ? 1 : 0))"
        done
    } >"$path"
}

git -c init.defaultBranch=main init -q repo
cd repo
git config core.autocrlf false
git config gc.auto 0 # gc runs once, below, where asked

echo "== commit 1: 500 files"
for ((f = 0; f < 500; f++)); do
    gen_file "dir$((f % 12))/sub$((f % 5))/file$f.txt" "$f" $((5 + f % 40))
done
printf 'binary\0data\0%s\n' {1..500} >data.bin
git add -A
git commit -q -m "Initial import of 500 files"
git rev-parse HEAD

for c in 2 3 4 5 6 7 8 9 10; do
    set_date "$c"
    echo "== commit $c"
    # edit a stride of files, append to others
    for ((f = c; f < 500; f += 3 + c)); do
        gen_file "dir$((f % 12))/sub$((f % 5))/file$f.txt" "$((f * 100 + c))" $((10 + (f + c) % 50))
    done
    for ((f = c * 5; f < 500; f += 17)); do
        p="dir$((f % 12))/sub$((f % 5))/file$f.txt"
        if [ -e "$p" ]; then echo "appended in commit $c" >>"$p"; fi
    done
    # new files, a rename and a deletion
    for ((f = 0; f < 20; f++)); do
        gen_file "new$c/extra$f.txt" "$((c * 1000 + f))" 25
    done
    r=$((c * 11))
    src="dir$((r % 12))/sub$((r % 5))/file$r.txt"
    mkdir -p renamed
    if [ -e "$src" ]; then git mv "$src" "renamed/c$c-file$r.txt"; fi
    d=$((c * 13 + 1))
    del="dir$((d % 12))/sub$((d % 5))/file$d.txt"
    if [ -e "$del" ]; then git rm -q -f "$del"; fi
    git add -A
    git commit -q -m "Commit $c: edits, 20 new files, a rename, a deletion" -m "Body line for commit $c."
    git rev-parse --short=12 HEAD
done

set_date 11
git checkout -q -b topic HEAD~2
gen_file topic/only-here.txt 4242 200
git add -A
git commit -q -m "Work on a branch"
git checkout -q main
git merge -q --no-ff -m "Merge branch 'topic'" topic
git tag -a v1.0 -m "Version 1.0"

echo "== rebase"
set_date 12
git checkout -q -b side HEAD~6
for n in 1 2 3; do
    gen_file "side/part$n.txt" "$((n * 77))" 60
    echo "side work $n" >>side/log.txt
    git add -A
    git commit -q -m "Side work $n"
done
git rebase -q main
git rev-parse side
git checkout -q main
git merge -q --ff-only side
git revert --no-edit HEAD >/dev/null
git rev-parse HEAD

echo "== log --stat"
git log --stat --format='commit %H%nAuthor: %an <%ae> %ad%nCommitter: %cn <%ce> %cd%n%n    %s%n' --date=iso-strict
echo "== log --graph --oneline"
git log --graph --oneline --decorate=short --all
echo "== diff --stat HEAD~5 HEAD"
git diff --stat=120 HEAD~5 HEAD | tail -n 15
echo "== diff -M HEAD~3 HEAD (numstat, hashed)"
git diff -M --numstat HEAD~3 HEAD | sort | cksum
git diff -M HEAD~3 HEAD | cksum
echo "== grep"
git grep -c 'value [0-9]*5 ' HEAD -- dir3 | sed -n '1,10p'
git grep -h -e 'appended in commit 4' | sort | uniq -c
echo "== blame"
git blame --line-porcelain dir3/sub3/file3.txt | grep -E '^(author |summary )' | sort | uniq -c
echo "== ls-tree"
git ls-tree -r HEAD | wc -l
git ls-tree -r -l HEAD | cksum

echo "== gc"
git count-objects -v | grep -E '^(count|in-pack|packs):'
git -c gc.reflogExpire=now -c gc.pruneExpire=now gc --quiet
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git repack -a -d -f -q --depth=50 --window=50
echo "== fsck"
git fsck --full --strict --no-progress --no-dangling
echo "fsck: $?"
echo "== rev-list"
git rev-list --count HEAD
git rev-list --count --all
git rev-list --objects --all | wc -l
git rev-list --objects --all | sort | cksum
echo "== cat-file"
git cat-file -p HEAD
git cat-file -p v1.0
git cat-file -t HEAD:dir5/sub0/file5.txt
git cat-file -s HEAD:dir5/sub0/file5.txt
git cat-file -p HEAD:dir5/sub0/file5.txt | sed -n '1,5p'
git cat-file -p HEAD:data.bin | cksum
git cat-file --batch-check --batch-all-objects | sort | cksum
echo "== archive"
git archive --format=tar HEAD | tar -tf - | wc -l
git archive --format=tar HEAD | cksum
echo "== log -p, format-patch, log --follow"
git log -p --all | cksum
git format-patch --stdout HEAD~4..HEAD | cksum
git log --follow --format='%h %s' -- renamed/c4-file44.txt
echo "== gc --aggressive"
git gc --aggressive --quiet
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
echo "== clone --no-local"
git clone -q --no-local . ../clone
git -C ../clone fsck --full --strict --no-progress --no-dangling
git -C ../clone rev-list --count --all
git -C ../clone log --format='%H %s' | cksum
git -C ../clone diff --stat HEAD~6 | tail -n 1
echo "== status"
git status --porcelain=v1 --branch
echo "done"
