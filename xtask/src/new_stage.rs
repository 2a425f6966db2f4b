//! `cargo xtask new-stage NAME --from DIR`: import a module folder as the
//! stage `module/NAME` and append its entry to the manifest, expected to pass
//! on every kernel line. Adding a C stage takes no Rust edit: the lab and the
//! matrix read the entry.
//!
//! The folder needs C sources and a `Kbuild` or `Makefile` naming the module
//! (`obj-m`); its `tests/check.sh`, when there is one, is the scenario the lab
//! runs in the guest. The target's name comes from the C source's
//! `struct target_type` initialiser (`.name = "..."`), or `--target`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use dm_workbook::manifest::{self, Manifest};

use crate::module_files::{copy_module_sources, is_build_artefact};
use crate::repo_root;

/// The script a folder may bring, run in the guest once the stage is loaded.
const CHECK_SCRIPT: &str = "tests/check.sh";

#[derive(clap::Args)]
pub struct NewStageArgs {
    /// The stage's name: its folder under module/ (lower-case letters,
    /// digits, '-' and '_').
    name: String,

    /// The module folder to import: C sources with a Kbuild or a Makefile,
    /// and tests/check.sh (the scenario the lab runs in the guest).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,

    /// The target's name in table lines, when the C source's `struct
    /// target_type` initialiser does not say it.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
}

pub fn run(args: NewStageArgs) -> Result<ExitCode> {
    let repo = repo_root()?;
    let stage = import(&repo, &args.name, &args.from, args.target.as_deref())?;
    println!(
        "module/{}: {} file(s), target {}, module {}",
        stage.dir,
        stage.files.len(),
        stage.target,
        stage.ko
    );
    if stage.probes {
        println!(
            "module/{}/Kbuild: its sources include dmw_compat.h, so it now runs the \
             compat header's feature probes ({PROBES_INCLUDE})",
            stage.dir
        );
    }
    println!(
        "{}: appended its entry (expected to pass on every line)",
        manifest::PATH
    );
    println!(
        "next: cargo xtask matrix --stage {} --kernel {}",
        stage.dir,
        Manifest::bundled().modelled().name
    );
    Ok(ExitCode::SUCCESS)
}

/// What an import made.
#[derive(Debug)]
pub struct Imported {
    pub dir: String,
    pub target: String,
    pub ko: String,
    /// The files copied, relative to the stage's folder.
    pub files: Vec<PathBuf>,
    /// Whether its Kbuild was given the compat header's feature probes.
    pub probes: bool,
}

/// Import `from` into `repo` as `module/NAME` and append its manifest entry.
/// Nothing is written unless the whole import holds together.
pub fn import(repo: &Path, name: &str, from: &Path, target: Option<&str>) -> Result<Imported> {
    ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'),
        "a stage's name is lower-case letters, digits, '-' and '_': {name:?} is not"
    );
    let module = ModuleFolder::read(from)?;
    let target = match target {
        Some(t) => t.to_string(),
        None => match module.targets.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "no `struct target_type` with a `.name = \"...\"` in {}'s C sources: give --target",
                from.display()
            ),
            many => bail!("the C sources register {many:?}: choose one with --target"),
        },
    };
    let build_file = module.build_file;
    let build_text = fs::read_to_string(from.join(build_file))?;
    let ko = match module_names(&build_text).as_slice() {
        [one] => format!("{one}.ko"),
        [] => bail!("{build_file} names no module (`obj-m := NAME.o`)"),
        many => bail!("{build_file} builds several modules ({many:?}): a stage is one"),
    };
    ensure!(
        from.join(CHECK_SCRIPT).is_file(),
        "{} has no {CHECK_SCRIPT}: the lab needs a scenario to run in the guest",
        from.display()
    );
    let table = single_table_file(from)?;

    let folder = repo.join("module").join(name);
    ensure!(
        !folder.exists(),
        "{} exists already: choose another name",
        folder.display()
    );
    let manifest_path = repo.join(manifest::PATH);
    let mut text = fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let current = Manifest::parse(&text)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text += &entry(name, &target, &ko, table.as_deref(), &current.line_names());
    // The appended entry must read back as the stage it describes.
    let updated = Manifest::parse(&text).context("the new entry does not fit the manifest")?;
    ensure!(
        updated.stage(name).is_some_and(|s| s.target == target),
        "the new entry does not read back"
    );

    let files = copy_module_sources(from, &folder)?;
    let probes = wire_probes(&folder, build_file)?;
    fs::write(&manifest_path, text)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    Ok(Imported {
        dir: name.to_string(),
        target,
        ko,
        files,
        probes,
    })
}

/// The line a stage's Kbuild needs for dmw_compat.h's feature probes.
pub const PROBES_INCLUDE: &str = "include $(src)/../compat/dmw_probes.kbuild";

/// A stage whose sources include dmw_compat.h gets the compat header's
/// feature probes: its Kbuild is given the include path and the probes'
/// fragment when it lacks them. Returns whether it was changed.
fn wire_probes(folder: &Path, build_file: &str) -> Result<bool> {
    let uses_compat = fs::read_dir(folder)?
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".c") || name.ends_with(".h")
        })
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .any(|text| text.contains("\"dmw_compat.h\""));
    if !uses_compat || build_file != "Kbuild" {
        return Ok(false);
    }
    let kbuild = folder.join(build_file);
    let mut text = fs::read_to_string(&kbuild)?;
    if text.contains("dmw_probes.kbuild") {
        return Ok(false);
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.contains("../compat") {
        text.push_str("ccflags-y += -I$(src)/../compat\n");
    }
    text.push_str("# dmw_compat.h's DMW_HAVE_... come from probes of the kernel's own headers.\n");
    text.push_str(PROBES_INCLUDE);
    text.push('\n');
    fs::write(&kbuild, text)?;
    Ok(true)
}

/// The manifest entry of a new stage that must pass on every line.
fn entry(name: &str, target: &str, ko: &str, table: Option<&str>, lines: &[&str]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut e = format!(
        "\n[[stage]]\ndir = {}\ntarget = {}\nlanguage = \"c\"\nko = {}\n",
        quote(name),
        quote(target),
        quote(ko)
    );
    if let Some(table) = table {
        e += &format!("table = {}\n", quote(table));
    }
    e += &format!("scenario = {{ script = {} }}\n", quote(CHECK_SCRIPT));
    let cells: Vec<String> = lines
        .iter()
        .map(|l| format!("{} = \"pass\"", quote(l)))
        .collect();
    e += &format!("expect = {{ {} }}\n", cells.join(", "));
    e
}

/// The folder's own C files (not what a build left).
/// What a module folder holds, as far as the lab and `new-stage` need it.
pub struct ModuleFolder {
    /// `Kbuild` or `Makefile`: what kbuild reads.
    pub build_file: &'static str,
    /// The target types its C sources register, by name, sorted.
    pub targets: Vec<String>,
}

impl ModuleFolder {
    /// Read `dir`, or say in one line why it is not a module folder.
    pub fn read(dir: &Path) -> Result<ModuleFolder> {
        ensure!(dir.is_dir(), "{} is not a folder", dir.display());
        let Some(build_file) = ["Kbuild", "Makefile"]
            .into_iter()
            .find(|f| dir.join(f).is_file())
        else {
            bail!(
                "{} has neither a Kbuild nor a Makefile: not a kernel module folder \
                 (a one-line Kbuild will do: `obj-m := my_target.o`)",
                dir.display()
            );
        };
        let sources = c_sources(dir)?;
        ensure!(!sources.is_empty(), "{} has no C source", dir.display());
        let mut targets = Vec::new();
        for source in &sources {
            let text = fs::read_to_string(source)
                .with_context(|| format!("reading {}", source.display()))?;
            targets.extend(target_names(&text));
        }
        targets.sort();
        targets.dedup();
        Ok(ModuleFolder {
            build_file,
            targets,
        })
    }
}

fn c_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".c") && !is_build_artefact(&name) && path.is_file() {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}

/// The one `*.table` file in the folder, if there is exactly one.
fn single_table_file(dir: &Path) -> Result<Option<String>> {
    let mut tables = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".table") {
            tables.push(name);
        }
    }
    Ok(if tables.len() == 1 {
        tables.pop()
    } else {
        None
    })
}

/// The `.name` of each `struct target_type` initialiser in a C source.
pub fn target_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("struct target_type") {
        rest = &rest[at + "struct target_type".len()..];
        // Only a definition with an initialiser: `... = { ... };`.
        let Some(open) = rest.find(['{', ';']) else {
            break;
        };
        if !rest[..open].contains('=') || rest[open..].starts_with(';') {
            continue;
        }
        let body = &rest[open + 1..];
        let mut depth = 1;
        let end = body
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(body.len(), |(i, _)| i);
        if let Some(name) = designated_string(&body[..end], ".name") {
            names.push(name);
        }
        rest = &body[end..];
    }
    names
}

/// The string literal a designated initialiser `FIELD = "..."` gives.
fn designated_string(body: &str, field: &str) -> Option<String> {
    let mut rest = body;
    while let Some(at) = rest.find(field) {
        let after = rest[at + field.len()..].trim_start();
        rest = &rest[at + field.len()..];
        // `.name_len` is another field.
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start().strip_prefix('"')?;
        return value.find('"').map(|end| value[..end].to_string());
    }
    None
}

/// The modules an `obj-m` line of a Kbuild or Makefile names.
pub fn module_names(build_file: &str) -> Vec<String> {
    build_file
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter_map(|l| l.strip_prefix("obj-m"))
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix(":=")
                .or_else(|| l.strip_prefix("+="))
                .or_else(|| l.strip_prefix('='))
        })
        .flat_map(|objects| objects.split_whitespace())
        .filter_map(|o| o.strip_suffix(".o"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sealed-zero")
    }

    /// A repository with just the project's manifest in it.
    fn scratch_repo() -> tempfile::TempDir {
        let repo = tempfile::tempdir().unwrap();
        fs::create_dir_all(repo.path().join("module")).unwrap();
        fs::write(repo.path().join(manifest::PATH), manifest::BUNDLED).unwrap();
        repo
    }

    #[test]
    fn a_stage_using_the_compat_header_gets_its_probes() {
        let repo = scratch_repo();
        // A copy of stage 3 from before the probes: its Kbuild lacks them.
        let from = tempfile::tempdir().unwrap();
        let stage3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../module/stage3-faulty");
        copy_module_sources(&stage3, from.path()).unwrap();
        let kbuild = from.path().join("Kbuild");
        let old: String = (fs::read_to_string(&kbuild).unwrap().lines())
            .filter(|l| !l.contains("dmw_probes") && !l.contains("DMW_HAVE"))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&kbuild, &old).unwrap();
        fs::write(from.path().join(CHECK_SCRIPT), "true\n").unwrap();
        let imported = import(repo.path(), "deferred", from.path(), None).unwrap();
        assert!(imported.probes);
        let wired = fs::read_to_string(repo.path().join("module/deferred/Kbuild")).unwrap();
        assert!(wired.starts_with(&old), "{wired}");
        assert_eq!(wired.lines().last(), Some(PROBES_INCLUDE));
        assert_eq!(wired.matches("../compat").count(), 2, "{wired}");
        // The fixture does not use the compat header: its Kbuild is left alone.
        let other = import(repo.path(), "sealed", &fixture(), None).unwrap();
        assert!(!other.probes);
    }

    #[test]
    fn reads_the_target_name_from_the_initialiser() {
        let source = "struct target_type;\nstatic int f(struct target_type *t);\n\
                      static struct target_type hello_target = {\n\t.name_len = 3,\n\
                      \t.name   = \"hello\",\n\t.version = {1, 0, 0},\n\t.map = m,\n};\n\
                      static struct target_type *other = &hello_target;\n";
        assert_eq!(target_names(source), ["hello"]);
        assert!(target_names("int main(void) { return 0; }").is_empty());
    }

    #[test]
    fn reads_the_module_from_obj_m() {
        assert_eq!(
            module_names("ccflags-y := -I.\nobj-m := hello_target.o\n"),
            ["hello_target"]
        );
        assert_eq!(module_names("obj-m += a.o b.o # two\n"), ["a", "b"]);
        assert!(module_names("all:\n\tmake\n").is_empty());
    }

    #[test]
    fn imports_a_folder_as_a_stage_that_passes_everywhere() {
        let repo = scratch_repo();
        // A built artefact in the source folder must not travel.
        let from = tempfile::tempdir().unwrap();
        copy_module_sources(&fixture(), from.path()).unwrap();
        fs::write(from.path().join("sealed_zero.ko"), "built").unwrap();
        fs::write(from.path().join(".sealed_zero.o.cmd"), "built").unwrap();

        let imported = import(repo.path(), "sealed", from.path(), None).unwrap();
        assert_eq!(imported.target, "sealed_zero");
        assert_eq!(imported.ko, "sealed_zero.ko");
        assert_eq!(
            imported.files,
            [
                PathBuf::from("Kbuild"),
                "Makefile".into(),
                "sealed_zero.c".into(),
                "sealed_zero.table".into(),
                "tests/check.sh".into()
            ]
        );
        let text = fs::read_to_string(repo.path().join(manifest::PATH)).unwrap();
        assert!(
            text.starts_with(manifest::BUNDLED),
            "the old text is kept as it was"
        );
        let manifest = Manifest::parse(&text).unwrap();
        let stage = manifest.stage("sealed").unwrap();
        assert_eq!(
            stage.scenario,
            Some(manifest::Scenario::Script(CHECK_SCRIPT.into()))
        );
        assert_eq!(stage.table.as_deref(), Some("sealed_zero.table"));
        assert!(
            (manifest.lines.iter())
                .all(|l| stage.expect_on(&l.name) == Some(&manifest::Expect::Pass))
        );
        assert!(repo.path().join("module/sealed/tests/check.sh").is_file());

        // Twice is refused, and changes nothing.
        let err = import(repo.path(), "sealed", from.path(), None).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert_eq!(
            fs::read_to_string(repo.path().join(manifest::PATH)).unwrap(),
            text
        );
    }

    #[test]
    fn refuses_what_is_not_a_module_folder() {
        let repo = scratch_repo();
        let from = tempfile::tempdir().unwrap();
        fs::write(from.path().join("t.c"), "").unwrap();
        let err = import(repo.path(), "x", from.path(), None).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("neither a Kbuild nor a Makefile"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1);

        fs::write(from.path().join("Kbuild"), "obj-m := t.o\n").unwrap();
        let err = import(repo.path(), "x", from.path(), None).unwrap_err();
        assert!(err.to_string().contains("give --target"), "{err}");
        let err = import(repo.path(), "x", from.path(), Some("t")).unwrap_err();
        assert!(err.to_string().contains(CHECK_SCRIPT), "{err}");
        let err = import(repo.path(), "Bad/Name", from.path(), Some("t")).unwrap_err();
        assert!(err.to_string().contains("lower-case"), "{err}");
        assert_eq!(
            fs::read_to_string(repo.path().join(manifest::PATH)).unwrap(),
            manifest::BUNDLED
        );
        assert!(!repo.path().join("module/x").exists());
    }
}
