"""Cross-file definition recall on real repositories nobody here wrote, one per language.

Each repository comes from a registry this machine reaches, so anyone can rerun it: TypeScript from npm (a package
that ships its ``src/**/*.ts``), Go, Rust, Java, C and C++ from Debian packages that ship sources (``apt-get
download`` + ``dpkg-deb -x``, no root needed). They are fetched into a cache folder outside the repository (never
committed); a language whose source cannot be fetched is skipped with a message.

Sites and their ground truth come from :mod:`benchmarks.context.recall_sites` (tree-sitter, the language's own
rules). For each site the cursor goes right after the call's ``(`` and ``ContextBuilder.build`` (what ``codehearth
context`` prints) assembles the prompt at the budget; the site is recalled when a snippet from the defining file is
the definition of the called name (for C/C++, also its declaration in a header the calling file includes).

    python -m benchmarks.context.recall_repos [--languages typescript,go] [--budget 1024] [--cache DIR]
        [--allow-dirty]

writes ``benchmarks/results/recall.json`` and ``recall.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

from benchmarks.common import ROOT, add_allow_dirty, begin_results, machine_info, write_results_file
from benchmarks.context.recall import count_tokens, scanned_index, spread
from benchmarks.context.recall_sites import MINERS, Site, Workspace
from codehearth.config import ContextSettings
from codehearth.context import languages
from codehearth.context.builder import ContextBuilder
from codehearth.context.builder.resolve import Resolver
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex

BUDGET = 1024
MAX_SITES = 400  # per language, spread evenly over the mined sites (deterministic)
DEFAULT_CACHE = Path(os.environ.get("CODEHEARTH_RECALL_CACHE", Path(tempfile.gettempdir()) / "codehearth-recall-repos"))


class Repo(NamedTuple):
    language: str
    registry: str  # "npm" or "deb"
    package: str
    version: str  # the version asked for; the one fetched is recorded
    subdir: str  # the workspace root inside the unpacked package
    exclude: tuple[str, ...] = ()  # gitignore-style, as the index's `exclude` setting
    zip_member: str = ""  # the sources sit in a zip inside the package: this member prefix is extracted


REPOS = [
    Repo("typescript", "npm", "zod", "4.6.7", "package/src", ("tests/", "*.test.ts", "benchmarks/")),
    Repo("typescript", "npm", "rxjs", "7.8.2", "package/src", ("*.spec.ts",)),
    Repo("go", "deb", "golang-github-hashicorp-hcl-v2-dev", "2.14.1-2",
         "usr/share/gocode/src/github.com/hashicorp/hcl/v2", ("testdata/", "specsuite/")),
    Repo("rust", "deb", "librust-toml-edit-dev", "0.14.4-2", "usr/share/cargo/registry/toml_edit-0.14.4",
         ("tests/", "benches/", "examples/")),
    Repo("rust", "deb", "librust-regex-syntax-dev", "0.6.27-1", "usr/share/cargo/registry/regex-syntax-0.6.27",
         ("tests/", "benches/", "examples/", "src/unicode_tables/")),
    Repo("java", "deb", "openjfx-source", "11.0.11+1-3", "javafx.base", (), zip_member="javafx.base/"),
    Repo("c", "deb", "libxcrypt-source", "1:4.4.33-2", "usr/src/libxcrypt/lib"),
    Repo("cpp", "deb", "dpf-source", "1.6+ds-2", "usr/share/dpf", ("utils/", "examples/", "tests/")),
]


# ------------------------------------------------------------------------------ fetching
def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def fetch(repo: Repo, cache: Path) -> tuple[Path, str]:
    """(workspace root, "name version") of the unpacked sources; raises RuntimeError with the reason."""
    folder = cache / f"{repo.package}-{repo.version}".replace(":", "_").replace("/", "_")
    stamp = folder / ".fetched"
    if stamp.is_file():
        return folder / "root" / repo.subdir, stamp.read_text().strip()
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "dl").mkdir(parents=True)
    unpacked = folder / "root"
    if repo.registry == "npm":
        got = _run(["npm", "pack", f"{repo.package}@{repo.version}", "--silent"], folder / "dl")
        tarballs = list((folder / "dl").glob("*.tgz"))
        if got.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack {repo.package}@{repo.version} failed: {got.stderr.strip()[-300:]}")
        unpacked.mkdir()
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpacked, filter="data")
        meta = json.loads((unpacked / "package" / "package.json").read_text())
        fetched = f"{meta['name']} {meta['version']} (npm)"
    else:
        got = _run(["apt-get", "download", f"{repo.package}={repo.version}"], folder / "dl")
        if got.returncode != 0:  # that exact version is gone from the mirror: take the current one
            got = _run(["apt-get", "download", repo.package], folder / "dl")
        debs = list((folder / "dl").glob("*.deb"))
        if got.returncode != 0 or not debs:
            raise RuntimeError(f"apt-get download {repo.package} failed: {got.stderr.strip()[-300:]}")
        extracted = folder / "deb"
        got = _run(["dpkg-deb", "-x", str(debs[0]), str(extracted)], folder)
        if got.returncode != 0:
            raise RuntimeError(f"dpkg-deb -x {debs[0].name} failed: {got.stderr.strip()[-300:]}")
        version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], folder).stdout.strip()
        fetched = f"{repo.package} {version} (Debian)"
        if repo.zip_member:
            zips = list(extracted.rglob("src.zip"))
            if not zips:
                raise RuntimeError(f"{repo.package}: no src.zip inside")
            with zipfile.ZipFile(zips[0]) as z:
                for name in z.namelist():
                    if name.startswith(repo.zip_member) and not name.endswith("/"):
                        z.extract(name, unpacked)
        else:
            extracted.rename(unpacked)
    stamp.write_text(fetched + "\n")
    return unpacked / repo.subdir, fetched


# ----------------------------------------------------------------------------- measuring
def _found(site: Site, snippets: list[Any]) -> bool:
    wanted = set(site.targets) | set(site.declarations)
    for s in snippets:
        label = s.label.removeprefix("definition ")
        if s.path in wanted and s.label.startswith("definition ") and label.rsplit(".", 1)[-1] == site.defined:
            return True
    return False


_IMPORT_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts", "/index.ts", "/index.tsx", "/index.js")


def _on_disk(path: str, source: str) -> bool:
    """Does a relative import name a file that exists (``./x.js`` written for ``x.ts`` included)?"""
    base = os.path.normpath(os.path.join(os.path.dirname(path), source))
    stems = [base, *(base[: -len(e)] for e in (".js", ".jsx", ".mjs", ".cjs") if base.endswith(e))]
    return any(os.path.isfile(stem + suffix) for stem in stems for suffix in _IMPORT_SUFFIXES)


def relative_imports(index: WorkspaceIndex, language: str, miner: Any) -> tuple[list[str], list[str], list[str]]:
    """(unresolved, missing, wrong): relative imports and re-exports of an existing file that the resolver maps to
    no file; those naming a file the package does not ship (no resolver could place them); and, where the miner
    knows the language's own module resolution (TypeScript), those mapped to files without the one it loads."""
    resolver = Resolver(index)
    files_for = getattr(resolver, "module_files_at", None)
    if files_for is None:  # a resolver from before module_files_at (the baseline run): the same through a stand-in
        def files_for(path: str, language: str | None, source: str) -> set[str]:
            return resolver.module_files(SimpleNamespace(path=Path(path), language=language), source)  # type: ignore[arg-type]
    unresolved: list[str] = []
    missing: list[str] = []
    wrong: list[str] = []
    truth = getattr(miner, "module", None)
    for path in sorted(index.paths()):
        symbols = index.file_symbols(path)
        file_language = languages.language_for_path(path)
        if symbols is None or file_language not in _SAME_FAMILY[language]:
            continue
        rel = index.relpath(path)
        for imp in symbols.imports:
            if not imp.source.startswith("."):
                continue
            files = files_for(path, file_language, imp.source)
            where = f"{rel}: {imp.source}"
            if not files:
                (unresolved if _on_disk(path, imp.source) else missing).append(where)
            elif truth is not None:
                loads = truth(rel, imp.source)
                if loads is not None and loads not in {index.relpath(f) for f in files}:
                    wrong.append(f"{where} -> {sorted(index.relpath(f) for f in files)[:3]}, not {loads}")
    return unresolved, missing, wrong


_SAME_FAMILY = {
    "typescript": {"typescript", "tsx", "javascript"},
    "go": {"go"},
    "rust": {"rust"},
    "java": {"java"},
    "c": {"c"},
    "cpp": {"cpp", "c"},
}


def measure(repo: Repo, root: Path, fetched: str, work: Path, budget: int, max_sites: int) -> dict[str, Any]:
    settings = ContextSettings(exclude=list(repo.exclude), index_workers=1)
    cache = work / f"index-{repo.language}"
    index, stats, index_s = scanned_index(root, cache, settings)
    family = _SAME_FAMILY[repo.language]
    files = [index.relpath(p) for p in index.paths() if languages.language_for_path(p) in family]
    ws = Workspace(root, files)
    miner = MINERS[repo.language](ws)
    mined = miner.sites()
    sites = spread(mined, max_sites)
    builder = ContextBuilder(index, settings, count_tokens)
    docs: dict[str, Document] = {}
    hits = ambiguous_hits = ambiguous = 0
    misses: list[dict[str, Any]] = []
    by_rule: Counter[str] = Counter()
    by_rule_hits: Counter[str] = Counter()
    build_ms: list[float] = []
    for site in sites:
        doc = docs.get(site.file)
        if doc is None:
            path = root / site.file
            doc = docs[site.file] = Document(path.as_uri(), path.read_bytes().decode("utf-8", "replace"), path=path)
        builder.forget_document(doc.uri)  # every site finds its own snippets
        t = time.perf_counter()
        ctx = builder.build(doc, Point(site.row, site.col), budget)
        build_ms.append((time.perf_counter() - t) * 1000)
        ok = _found(site, ctx.snippets)
        hits += ok
        ambiguous += site.ambiguous
        ambiguous_hits += ok and site.ambiguous
        by_rule[site.how] += 1
        by_rule_hits[site.how] += ok
        if not ok:
            misses.append({
                "site": f"{site.file}:{site.row + 1}",
                "call": site.called,
                "defined": site.defined,
                "want": list(site.targets) + list(site.declarations),
                "ambiguous": site.ambiguous,
                "rule": site.how,
                "context_held": [f"{s.label} ({s.path})" for s in ctx.snippets],
            })
    unresolved, missing, wrong = relative_imports(index, repo.language, miner)
    index.close()
    shutil.rmtree(cache, ignore_errors=True)
    n = len(sites)
    build_ms.sort()
    return {
        "language": repo.language,
        "repository": fetched,
        "files": len(files),
        "indexed_files": stats.files,
        "definitions": stats.symbols,
        "index_s": round(index_s, 2),
        "sites_mined": len(mined),
        "sites": n,
        "recall": round(hits / n, 4) if n else None,
        "hits": hits,
        "ambiguous_sites": ambiguous,
        "ambiguous_recall": round(ambiguous_hits / ambiguous, 4) if ambiguous else None,
        "ambiguous_hits": ambiguous_hits,
        "by_rule": {rule: {"sites": by_rule[rule], "hits": by_rule_hits[rule]} for rule in sorted(by_rule)},
        "unresolved_relative_imports": len(unresolved),
        "unresolved_examples": unresolved[:10],
        "relative_imports_of_files_not_shipped": missing,
        "relative_imports_to_a_wrong_file": len(wrong),
        "wrong_file_examples": wrong[:10],
        "ground_truth_unplaced_imports": len(getattr(miner, "unresolved", [])),
        "build_ms_p50": round(build_ms[n // 2], 2) if n else None,
        "build_ms_max": round(build_ms[-1], 2) if n else None,
        "misses": misses,
    }


# ------------------------------------------------------------------------------- report
def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _per_language(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        agg = out.setdefault(r["language"], {"sites": 0, "hits": 0, "ambiguous_sites": 0, "ambiguous_hits": 0,
                                             "unresolved_relative_imports": 0})
        for key in agg:
            agg[key] += r[key]
    for agg in out.values():
        agg["recall"] = round(agg["hits"] / agg["sites"], 4) if agg["sites"] else None
        agg["ambiguous_recall"] = (
            round(agg["ambiguous_hits"] / agg["ambiguous_sites"], 4) if agg["ambiguous_sites"] else None
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Cross-file definition recall on real repositories",
        "",
        f"Budget {result['budget']} tokens (len/3 + 1 per text, as the context tests), cursor right after the call's `(`,"
        " `ContextBuilder.build` as `codehearth context` runs it; commit `" + result["commit"] + "`, "
        + result["machine"].get("cpu", "") + "." + (f" {result['note']}" if result.get("note") else ""),
        "",
        "| language | repository | files | sites | recall | ambiguous sites | recall (ambiguous) "
        "| unresolved relative imports | relative imports to a wrong file |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["languages"]:
        lines.append(
            f"| {r['language']} | {r['repository']} | {r['files']} | {r['sites']} | {_pct(r['recall'])} "
            f"({r['hits']}/{r['sites']}) | {r['ambiguous_sites']} | {_pct(r['ambiguous_recall'])} "
            f"({r['ambiguous_hits']}/{r['ambiguous_sites']}) | {r['unresolved_relative_imports']} "
            f"| {r['relative_imports_to_a_wrong_file'] if r['language'] == 'typescript' else '—'} |"
        )
    for name, why in result.get("skipped", {}).items():
        lines.append(f"| {name} | skipped: {why} | | | | | | | |")
    lines += ["", "Per language (all its repositories together):", "",
              "| language | sites | recall | ambiguous sites | recall (ambiguous) | unresolved relative imports |",
              "|---|---:|---:|---:|---:|---:|"]
    for language, agg in _per_language(result["languages"]).items():
        lines.append(
            f"| {language} | {agg['sites']} | {_pct(agg['recall'])} | {agg['ambiguous_sites']} "
            f"| {_pct(agg['ambiguous_recall'])} | {agg['unresolved_relative_imports']} |"
        )
    wrong = [x for r in result["languages"] for x in r["wrong_file_examples"]]
    if wrong:
        lines += ["", "Relative imports mapped to files without the one TypeScript loads (first ten per repository): "
                  + "; ".join(f"`{x}`" for x in wrong)]
    not_shipped = [(r["language"], x) for r in result["languages"] for x in r["relative_imports_of_files_not_shipped"]]
    if not_shipped:
        lines += ["", "Relative imports of files the package does not ship (not counted as unresolved): "
                  + ", ".join(f"{lang} `{x}`" for lang, x in not_shipped)]
    lines += ["", "Sites by the rule that found them (hits/sites):", ""]
    for r in result["languages"]:
        rules = ", ".join(f"{k} {v['hits']}/{v['sites']}" for k, v in r["by_rule"].items())
        lines.append(f"- {r['language']}: {rules}")
    lines += ["", "## Misses (what the context held instead)", ""]
    for r in result["languages"]:
        if not r["misses"]:
            continue
        lines.append(f"### {r['language']}")
        lines.append("")
        for m in r["misses"]:
            held = "; ".join(m["context_held"]) or "no snippets"
            lines.append(
                f"- `{m['site']}` `{m['call']}(` → `{m['defined']}` in {', '.join(m['want'])}"
                f"{' (ambiguous)' if m['ambiguous'] else ''}: held {held}"
            )
        lines.append("")
    lines += ["Rerun: `python -m benchmarks.context.recall_repos` (fetches the packages into "
              f"`{Path(tempfile.gettempdir()) / 'codehearth-recall-repos'}` or `$CODEHEARTH_RECALL_CACHE`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--languages", default=",".join(r.language for r in REPOS))
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--max-sites", type=int, default=MAX_SITES)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="recall", help="results file names: NAME.json and NAME.md")
    parser.add_argument("--note", default="", help="a line about this run for the results (e.g. which resolver)")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    wanted = args.languages.split(",")
    work = Path(tempfile.mkdtemp(prefix="codehearth-recall-"))
    provenance = begin_results(args.allow_dirty, work / "home")
    result: dict[str, Any] = {
        "budget": args.budget,
        "commit": provenance["git_commit"],
        "machine": machine_info(),
        "token_count": "len(text) // 3 + 1",
        "note": args.note,
        "languages": [],
        "skipped": {},
    }
    try:
        for repo in REPOS:
            if repo.language not in wanted:
                continue
            try:
                root, fetched = fetch(repo, args.cache)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"[recall] {repo.language}: skipped, {exc}", flush=True)
                result["skipped"][repo.language] = str(exc)
                continue
            print(f"[recall] {repo.language}: {fetched}", flush=True)
            r = measure(repo, root, fetched, work, args.budget, args.max_sites)
            print(f"[recall] {repo.language}: {r['sites']} sites, recall {_pct(r['recall'])}, ambiguous "
                  f"{_pct(r['ambiguous_recall'])} of {r['ambiguous_sites']}, unresolved relative imports "
                  f"{r['unresolved_relative_imports']}", flush=True)
            result["languages"].append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["per_language"] = _per_language(result["languages"])
    write_results_file(args.out / f"{args.name}.json", result)
    write_results_file(args.out / f"{args.name}.md", markdown(result))
    print(f"[recall] wrote {args.out / args.name}.json and .md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
