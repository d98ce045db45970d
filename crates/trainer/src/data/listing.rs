//! Listing an image folder's split as torchvision's `ImageFolder` does: class folders sorted by
//! name, every file with an image extension at any depth below a class folder, in the order
//! `make_dataset` yields them. Cheap (no file is opened), so a run's configuration can hold the
//! plan against the data before anything is decoded.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// torchvision's `IMG_EXTENSIONS`: what `ImageFolder` lists, compared case-insensitively with
/// the end of the file name. Every one of them decodes (see `decode`).
pub const EXTENSIONS: [&str; 9] = [
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
];

/// One split of an image folder, listed but not decoded: its classes (sorted, as
/// `ImageFolder`) and every image file with its label, in `ImageFolder`'s order.
#[derive(Debug, Clone)]
pub struct Listing {
    pub split_dir: PathBuf,
    pub classes: Vec<String>,
    pub files: Vec<(PathBuf, i64)>,
}

impl Listing {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Lists one split. `expected_classes` (the train split's) must match.
pub fn list_split(
    data_dir: &Path,
    split: &str,
    expected_classes: Option<&[String]>,
) -> Result<Listing> {
    if !data_dir.is_dir() {
        return Err(Error::data(data_dir, "data folder does not exist"));
    }
    let split_dir = data_dir.join(split);
    let classes = class_dirs(&split_dir)?;
    let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    if let Some(expected) = expected_classes
        && expected != names.as_slice()
    {
        return Err(Error::data(
            &split_dir,
            format!("classes {names:?} differ from the train split's {expected:?}"),
        ));
    }
    let mut files = Vec::new();
    for (label, (_, dir)) in classes.iter().enumerate() {
        let in_class = images_under(dir)?;
        if in_class.is_empty() {
            return Err(Error::data(
                dir,
                format!(
                    "class folder has no images ({}, at any depth)",
                    EXTENSIONS.join(", ")
                ),
            ));
        }
        files.extend(in_class.into_iter().map(|p| (p, label as i64)));
    }
    Ok(Listing {
        split_dir,
        classes: names,
        files,
    })
}

/// The sorted class folders of `split_dir` (links to folders count, as in `ImageFolder`).
fn class_dirs(split_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !split_dir.is_dir() {
        return Err(Error::data(
            split_dir,
            "not a folder: the data folder must hold train/<class>/* and val/<class>/*",
        ));
    }
    let mut classes = Vec::new();
    for entry in read_dir(split_dir)? {
        if entry.is_dir() {
            let name = entry.file_name().unwrap_or_default();
            classes.push((name.to_string_lossy().into_owned(), entry));
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(Error::data(
            split_dir,
            "no class folders: expected one sub-folder per class with images in it",
        ));
    }
    Ok(classes)
}

/// Whether `ImageFolder` would take the file: its name ends with one of [`EXTENSIONS`],
/// ignoring case (so a file named just `.jpg` counts too, as in torchvision).
pub fn has_image_extension(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default();
    let name = name.to_string_lossy().to_lowercase();
    EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// The image files at any depth under `class_dir`, in `make_dataset`'s order:
/// `sorted(os.walk(class_dir, followlinks=True))` sorts the folders by their path as a string
/// (so `a-b/` comes before `a/x/`), then each folder's files by name.
fn images_under(class_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    walk(class_dir, &mut Vec::new(), &mut folders)?;
    folders.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(folders.into_iter().flat_map(|(_, files)| files).collect())
}

/// Collects `(folder, its image files sorted)` for `dir` and every folder below it, following
/// links to folders. A link back to a folder being walked (`ancestors`, resolved) is an error:
/// Python's `os.walk` would walk it until the path is too long.
fn walk(
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<(PathBuf, Vec<PathBuf>)>,
) -> Result<()> {
    let real = dir
        .canonicalize()
        .map_err(|e| Error::io(dir, "resolve", e))?;
    if ancestors.contains(&real) {
        return Err(Error::data(
            dir,
            "links back to a folder that contains it: the walk would never end",
        ));
    }
    ancestors.push(real);
    let mut files = Vec::new();
    for path in read_dir(dir)? {
        if path.is_dir() {
            walk(&path, ancestors, out)?;
        } else if has_image_extension(&path) {
            files.push(path);
        }
    }
    ancestors.pop();
    files.sort();
    out.push((dir.to_path_buf(), files));
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = |e| Error::io(dir, "list", e);
    std::fs::read_dir(dir)
        .map_err(list)?
        .map(|entry| entry.map(|e| e.path()).map_err(list))
        .collect()
}
