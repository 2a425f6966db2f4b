//! Downloading a kernel line's packages with a private apt configuration
//! pointed at the host's own mirrors, and making the chroot a line's modules
//! are built in when the host's compiler is too old for them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};

use super::super::lines::KernelLine;
use super::super::progress::{Progress, Step};
use super::{Kit, point_headers_at_common};
use crate::apt::{self, Source};
use crate::run_checked;

/// Download and unpack the kit of `line` into `dir`, made afresh.
pub(super) fn download(line: &'static KernelLine, dir: &Path, progress: &Progress) -> Result<Kit> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    let apt_dir = dir.join("apt");
    fs::create_dir_all(apt_dir.join("lists/partial"))?;
    fs::create_dir_all(apt_dir.join("cache/archives/partial"))?;
    let sources = apt::host_sources()?;
    let mut list = String::new();
    for suite in &line.suites {
        let uri = mirror_for(&sources, suite)
            .with_context(|| format!("no Debian mirror in the host's apt sources for {suite}"))?;
        list += &format!("deb {uri} {suite} main\n");
    }
    fs::write(apt_dir.join("sources.list"), list)?;
    let opts = apt_options(&apt_dir);

    let step = progress.bar(format!(
        "{}: apt-get update ({})",
        line.name,
        line.suites.join(", ")
    ));
    run_apt(Command::new("apt-get").args(&opts).arg("update"), &step)?;
    step.done();

    let step = progress.step(format!("{}: resolving the kernel's packages", line.name));
    let ask = |packages: &[String]| -> Result<BTreeMap<String, Vec<String>>> {
        let output = Command::new("apt-cache")
            .args(&opts)
            .arg("depends")
            .args(packages)
            .output()
            .context("running apt-cache depends")?;
        ensure!(
            output.status.success(),
            "apt-cache depends {packages:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(parse_depends(&String::from_utf8_lossy(&output.stdout)))
    };
    let (release, packages) = kernel_packages(ask)?;
    step.done_with(format!("{release}: {}", packages.join(" ")));

    let debs = dir.join("debs");
    fs::create_dir_all(&debs)?;
    let step = progress.bar(format!(
        "{}: downloading {} packages",
        line.name,
        packages.len()
    ));
    run_apt(
        Command::new("apt-get")
            .current_dir(&debs)
            .args(&opts)
            .arg("download")
            .args(&packages),
        &step,
    )?;
    step.done();

    let step = progress.step(format!("{}: unpacking", line.name));
    let root = dir.join("root");
    fs::create_dir_all(&root)?;
    for deb in fs::read_dir(&debs)? {
        let deb = deb?.path();
        run_checked(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    }
    // Newer images ship their modules under /usr/lib only; depmod and
    // modprobe -d look under /lib.
    if !root.join("lib").exists() {
        std::os::unix::fs::symlink("usr/lib", root.join("lib"))?;
    }
    run_checked(Command::new("depmod").arg("-b").arg(&root).arg(&release))?;
    if line.chroot.is_none() {
        point_headers_at_common(&root, &release)?;
    }
    step.done();
    let kit = Kit {
        line,
        release,
        root,
        chroot: None,
    };
    ensure!(
        kit.vmlinuz().exists(),
        "no {} in the image packages",
        kit.vmlinuz().display()
    );
    fs::write(dir.join("release"), format!("{}\n", kit.release))?;
    Ok(kit)
}

/// A chroot of the line's suite with its headers and compiler installed.
pub(super) fn ensure_chroot(
    line: &KernelLine,
    release: &str,
    suites: &[&str],
    cache: &Path,
    progress: &Progress,
) -> Result<PathBuf> {
    let dir = cache.join("chroots").join(&line.name);
    let ready = cache.join("chroots").join(format!("{}.ready", line.name));
    let stamp = format!("{release}\n");
    let headers = dir.join(format!("usr/src/linux-headers-{release}/Makefile"));
    if fs::read_to_string(&ready).is_ok_and(|s| s == stamp) && headers.exists() {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(dir.parent().context("chroot folder")?)?;
    let sources = apt::host_sources()?;
    let mut mirrors = Vec::new();
    for suite in suites {
        let uri = mirror_for(&sources, suite)
            .with_context(|| format!("no Debian mirror in the host's apt sources for {suite}"))?;
        mirrors.push(format!("deb {uri} {suite} main"));
    }
    let step = progress.step(format!("{}: making a {} chroot", line.name, suites[0]));
    let include = format!(
        "make,kmod,xz-utils,{},linux-headers-{release}",
        line.compiler
    );
    run_checked(
        Command::new("mmdebstrap")
            .args(["--mode=root", "--variant=apt", "--quiet"])
            .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
            .arg(format!("--include={include}"))
            .arg(suites[0])
            .arg(&dir)
            .args(&mirrors),
    )?;
    step.done();
    fs::write(&ready, stamp)?;
    Ok(dir)
}

/// Run apt-get with its machine-readable status on stdout, moving `step`'s
/// bar as it reports; fail with its errors if it fails.
fn run_apt(cmd: &mut Command, step: &Step) -> Result<()> {
    let mut child = cmd
        .args(["-q", "-o", "APT::Status-Fd=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting apt-get")?;
    let stdout = child.stdout.take().context("apt-get's output")?;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(percent) = apt_status_percent(&line) {
            step.set_percent(percent);
        }
    }
    let output = child.wait_with_output().context("waiting for apt-get")?;
    ensure!(
        output.status.success(),
        "{:?} failed ({}):\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// The percentage in an apt status line: `dlstatus:1:42.5:Retrieving file 1`.
pub fn apt_status_percent(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("dlstatus:")?;
    let mut fields = rest.splitn(3, ':');
    fields.next()?;
    fields.next()?.parse().ok()
}

/// The options that make apt use `dir` instead of the host's own state.
pub fn apt_options(dir: &Path) -> Vec<String> {
    let d = dir.display();
    [
        format!("Dir::Etc::sourcelist={d}/sources.list"),
        "Dir::Etc::sourceparts=-".to_string(),
        format!("Dir::State::Lists={d}/lists"),
        format!("Dir::Cache={d}/cache"),
        "Dir::State::status=/dev/null".to_string(),
        // sid's Release file may have expired on a mirror.
        "Acquire::Check-Valid-Until=false".to_string(),
        // Downloads go to the cache, which apt's own user may not write.
        "APT::Sandbox::User=root".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect()
}

/// The mirror URI the host uses for `suite`: a source of that very suite,
/// else for a `-security` suite any security source, else the host's main
/// archive (a source of a plain release suite).
pub fn mirror_for(sources: &[Source], suite: &str) -> Option<String> {
    let security = |s: &Source| s.suite.ends_with("-security");
    sources
        .iter()
        .find(|s| s.suite == suite)
        .or_else(|| {
            if suite.ends_with("-security") {
                sources.iter().find(|s| security(s))
            } else {
                sources
                    .iter()
                    .find(|s| !s.suite.contains('-'))
                    .or_else(|| sources.iter().find(|s| !security(s)))
            }
        })
        .map(|s| s.uri.trim_end_matches('/').to_string())
}

/// `apt-cache depends` output as package → its `Depends` (alternatives
/// included, virtual packages left out).
pub fn parse_depends(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            let name = line.trim().to_string();
            map.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(rest) = line.trim().trim_start_matches('|').strip_prefix("Depends:") else {
            continue;
        };
        let dep = rest.trim();
        if let Some(pkg) = &current
            && !dep.starts_with('<')
        {
            map.entry(pkg.clone()).or_default().push(dep.to_string());
        }
    }
    map
}

/// The ABI release and every package to download for one kernel, found by
/// following the `linux-image-amd64` and `linux-headers-amd64` meta packages.
/// `ask` answers `apt-cache depends` for a list of packages.
pub fn kernel_packages(
    mut ask: impl FnMut(&[String]) -> Result<BTreeMap<String, Vec<String>>>,
) -> Result<(String, Vec<String>)> {
    let metas = [
        "linux-image-amd64".to_string(),
        "linux-headers-amd64".to_string(),
    ];
    let deps = ask(&metas)?;
    let first = |meta: &str, prefix: &str| -> Result<String> {
        deps.get(meta)
            .and_then(|d| d.iter().find(|p| p.starts_with(prefix)))
            .cloned()
            .with_context(|| format!("{meta} depends on no {prefix}* package"))
    };
    let image = first("linux-image-amd64", "linux-image-")?;
    let headers = first("linux-headers-amd64", "linux-headers-")?;
    let release = headers
        .strip_prefix("linux-headers-")
        .unwrap_or_default()
        .to_string();
    ensure!(
        image.contains(&release),
        "image {image} and headers {headers} are different kernels"
    );
    // "6.1.0-28-amd64" → "6.1.0-28": the part every package of this kernel names.
    let stem = release
        .strip_suffix("-amd64")
        .unwrap_or(&release)
        .to_string();
    let wanted = |p: &str| p.contains(&stem) || p.starts_with("linux-kbuild-");
    let mut found: BTreeSet<String> = [image, headers].into();
    let mut frontier: Vec<String> = found.iter().cloned().collect();
    while !frontier.is_empty() {
        let deps = ask(&frontier)?;
        frontier = deps
            .values()
            .flatten()
            .filter(|p| wanted(p) && !found.contains(*p))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        found.extend(frontier.iter().cloned());
    }
    // Headers may name the unsigned image beside the signed one the meta
    // package chose: the same kernel and modules, so download one of them.
    let packages = found
        .iter()
        .filter(|p| {
            !p.strip_suffix("-unsigned")
                .is_some_and(|signed| found.contains(signed))
        })
        .cloned()
        .collect();
    Ok((release, packages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(uri: &str, suite: &str) -> Source {
        Source {
            uri: uri.into(),
            suite: suite.into(),
            components: vec!["main".into()],
        }
    }

    #[test]
    fn picks_the_mirror_for_each_suite() {
        let host = [
            source("http://m.example/debian/", "bookworm"),
            source("http://m.example/debian", "bookworm-updates"),
            source("http://s.example/debian-security", "bookworm-security"),
        ];
        let pick = |s| mirror_for(&host, s);
        assert_eq!(pick("bookworm").as_deref(), Some("http://m.example/debian"));
        assert_eq!(pick("sid").as_deref(), Some("http://m.example/debian"));
        assert_eq!(
            pick("trixie-backports").as_deref(),
            Some("http://m.example/debian")
        );
        assert_eq!(
            pick("bullseye-security").as_deref(),
            Some("http://s.example/debian-security")
        );
        assert_eq!(mirror_for(&[], "bookworm"), None);
    }

    #[test]
    fn reads_apt_download_progress() {
        assert_eq!(
            apt_status_percent("dlstatus:1:42.5:Retrieving file 1 of 4"),
            Some(42.5)
        );
        assert_eq!(apt_status_percent("pmstatus:dpkg-exec:0:Running"), None);
        assert_eq!(apt_status_percent("Get:1 http://m.example/debian"), None);
    }

    #[test]
    fn reads_apt_cache_depends() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-28-amd64\n\
                    linux-image-6.1.0-28-amd64-unsigned\n  Depends: kmod\n \
                    |Depends: initramfs-tools\n  Depends: <linux-initramfs-tool>\n    dracut\n";
        let deps = parse_depends(text);
        assert_eq!(deps["linux-image-amd64"], ["linux-image-6.1.0-28-amd64"]);
        assert_eq!(
            deps["linux-image-6.1.0-28-amd64-unsigned"],
            ["kmod", "initramfs-tools"]
        );
    }

    /// A fake archive: sid-style, where the image package is itself a meta
    /// package over the binary and the modules.
    fn archive(asked: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
        let all: BTreeMap<&str, &[&str]> = [
            ("linux-image-amd64", &["linux-image-7.2.1+deb14-amd64"][..]),
            (
                "linux-headers-amd64",
                &["linux-headers-7.2.1+deb14-amd64"][..],
            ),
            (
                "linux-image-7.2.1+deb14-amd64",
                &["linux-binary-7.2.1+deb14-amd64", "linux-base"][..],
            ),
            (
                "linux-binary-7.2.1+deb14-amd64",
                &["linux-modules-7.2.1+deb14-amd64", "kmod"][..],
            ),
            ("linux-modules-7.2.1+deb14-amd64", &[][..]),
            (
                "linux-headers-7.2.1+deb14-amd64",
                &[
                    "linux-headers-7.2.1+deb14-common",
                    "linux-kbuild-7.2.1+deb14",
                    "linux-compiler-gcc-16-x86",
                ][..],
            ),
            ("linux-kbuild-7.2.1+deb14", &["libc6"][..]),
            (
                "linux-headers-7.2.1+deb14-common",
                &["linux-image-7.2.1+deb14-amd64-unsigned"][..],
            ),
        ]
        .into();
        Ok(asked
            .iter()
            .map(|p| {
                let deps = all.get(p.as_str()).copied().unwrap_or_default();
                (p.clone(), deps.iter().map(|d| d.to_string()).collect())
            })
            .collect())
    }

    #[test]
    fn follows_the_meta_packages_to_every_kernel_package() {
        let (release, packages) = kernel_packages(archive).unwrap();
        assert_eq!(release, "7.2.1+deb14-amd64");
        assert_eq!(
            packages,
            [
                "linux-binary-7.2.1+deb14-amd64",
                "linux-headers-7.2.1+deb14-amd64",
                "linux-headers-7.2.1+deb14-common",
                "linux-image-7.2.1+deb14-amd64",
                "linux-kbuild-7.2.1+deb14",
                "linux-modules-7.2.1+deb14-amd64",
            ]
        );
    }
}
