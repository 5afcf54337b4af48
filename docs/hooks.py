"""mkdocs hook: the site is laid out as the repository is.

mkdocs builds the pages of docs_dir only, but these pages link to the README and to the committed
reference reports (`../results/reference/quick/report.md`), and the README links to the pages
(`docs/tasks.md`). Rather than write each link twice, the site mirrors the repository: README.md
is the home page, a page of docs/ keeps its `docs/` prefix, and the files of REPOSITORY_FILES come
along as they are. A relative link then means the same on GitHub and on the site, and mkdocs
checks every one of them (in strict mode a broken link or anchor fails the build).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

# Repository files and folders the pages link to, besides docs/ itself.
REPOSITORY_FILES = ("README.md", "LICENSE", "examples", "results/reference")


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "__pycache__")) for part in rel.parts)


def _repository_file(path: Path, root: Path, config) -> File:
    # Linked pages outside docs/ (the reference reports) are rendered but stay out of the nav.
    inclusion = InclusionLevel.INCLUDED if path.name == "README.md" else InclusionLevel.NOT_IN_NAV
    return File(
        path.relative_to(root).as_posix(),
        src_dir=str(root),
        dest_dir=config.site_dir,
        use_directory_urls=config.use_directory_urls,
        inclusion=inclusion,
    )


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).resolve().parent
    docs = Path(config.docs_dir).resolve()
    prefix = docs.relative_to(root).as_posix()
    out = []
    for f in files:
        if f.abs_src_path is None or not Path(f.abs_src_path).resolve().is_relative_to(docs):
            out.append(f)  # theme assets and generated files keep their place
            continue
        out.append(
            File(
                f"{prefix}/{f.src_uri}",
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
                inclusion=f.inclusion,
            )
        )
    for name in REPOSITORY_FILES:
        path = root / name
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        found = [p for p in found if not _hidden(p.relative_to(root))]
        out += [_repository_file(p, root, config) for p in found]
    return Files(out)
