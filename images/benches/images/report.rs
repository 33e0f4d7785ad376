//! The bench's tables, from the figures of both sides.

use std::collections::BTreeMap;

use catalog_events::VariantName;

use crate::Vips;
use crate::measure::{File, Files, Photo};

/// The most of the JPEG's bytes a `large` WebP and AVIF may take, as the issue of this bench
/// set the goal (or not be offered).
const GOAL_WEBP: f64 = 0.8;
const GOAL_AVIF: f64 = 0.6;
/// Photos in a gallery page: one `large`, the others `small`.
const GALLERY: f64 = 20.0;

/// Before or after: the qualities of before, or those chosen per photo.
#[derive(Clone, Copy)]
enum When {
    Before,
    After,
}

impl When {
    fn files(self, variant: &crate::measure::Variant) -> &Files {
        match self {
            Self::Before => &variant.before,
            Self::After => &variant.after,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

/// The category of a corpus file: its name's first word.
fn category(file: &str) -> &str {
    file.split('-').next().unwrap_or(file)
}

fn files_of(photo: &Photo, name: VariantName, when: When) -> Option<&Files> {
    photo
        .variants
        .iter()
        .find(|v| v.name == name)
        .map(|v| when.files(v))
}

/// The file a browser takes: the AVIF, the WebP, then the JPEG or PNG, as offered.
fn served(files: &Files) -> &File {
    files
        .avif
        .as_ref()
        .filter(|f| f.offered)
        .or(Some(&files.webp).filter(|f| f.offered))
        .unwrap_or(&files.primary)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Where the target and the searches' starts come from: the median score of the `small`
/// JPEG at the quality of before, and the median quality each format needed.
fn medians(photos: &[Photo]) {
    let opaque: Vec<&Photo> = photos.iter().filter(|p| !p.alpha).collect();
    let before = opaque
        .iter()
        .filter_map(|p| files_of(p, VariantName::Small, When::Before))
        .map(|f| f.primary.ssimulacra2)
        .collect();
    let chosen = |pick: fn(&Photo) -> Option<u8>| {
        median(
            opaque
                .iter()
                .filter_map(|p| pick(p))
                .map(f64::from)
                .collect(),
        )
    };
    println!(
        "Medians over the opaque photos: SSIMULACRA2 of the small JPEG at quality 80 (before) {:.1}; qualities chosen: JPEG {}, WebP {}, AVIF {}",
        median(before),
        chosen(|p| p.qualities.jpeg),
        chosen(|p| Some(p.qualities.webp)),
        chosen(|p| p.qualities.avif),
    );
    println!();
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn spread(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

pub fn print(photos: &[Photo], vips: &BTreeMap<String, Vips>) {
    per_photo(photos, vips);
    medians(photos);
    for when in [When::Before, When::After] {
        per_variant(photos, when);
    }
    goals(photos);
    page_weight(photos);
    cpu(photos, vips);
}

fn ratio(file: Option<&File>, primary: &File) -> String {
    match file {
        Some(f) if f.offered => format!("{:.2}", f.bytes as f64 / primary.bytes as f64),
        Some(f) => format!("({:.2})", f.bytes as f64 / primary.bytes as f64),
        None => "-".into(),
    }
}

fn per_photo(photos: &[Photo], vips: &BTreeMap<String, Vips>) {
    println!(
        "Each photo (after): the qualities chosen; the large variant's WebP and AVIF against its JPEG or PNG (in brackets when not offered) and the SSIMULACRA2 of each; CPU-s to ready"
    );
    println!(
        "{:<44} {:>11} {:>3} {:>3} {:>3} | {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>6} {:>6} {:>6}",
        "photo",
        "size",
        "jpg",
        "wbp",
        "avf",
        "WebP",
        "AVIF",
        "s2 J",
        "s2 W",
        "s2 A",
        "ours",
        "floor",
        "vips"
    );
    for photo in photos {
        let Some(large) = files_of(photo, VariantName::Large, When::After) else {
            continue;
        };
        let quality = |q: Option<u8>| q.map_or("-".to_owned(), |q| q.to_string());
        let score =
            |f: Option<&File>| f.map_or("-".to_owned(), |f| format!("{:.1}", f.ssimulacra2));
        let name: String = photo.file.chars().take(44).collect();
        println!(
            "{name:<44} {:>11} {:>3} {:>3} {:>3} | {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>6.3} {:>6.3} {:>6.3}",
            format!("{}x{}", photo.width, photo.height),
            quality(photo.qualities.jpeg),
            photo.qualities.webp,
            quality(photo.qualities.avif),
            ratio(Some(&large.webp), &large.primary),
            ratio(large.avif.as_ref(), &large.primary),
            if photo.alpha {
                "png".into()
            } else {
                score(Some(&large.primary))
            },
            score(Some(&large.webp)),
            score(large.avif.as_ref()),
            photo.cpu.ready,
            photo.cpu.floor_decode + photo.cpu.floor_ready,
            vips.get(&photo.file).map_or(f64::NAN, |v| v.ready),
        );
    }
    println!();
}

/// Per variant size and format: bytes against the JPEG (or PNG), how many offered, and the
/// scores, over the opaque photos and the transparent ones apart.
fn per_variant(photos: &[Photo], when: When) {
    println!(
        "Per variant and format, {} ({}): bytes against the variant's JPEG or PNG (all made; offered only), offered, SSIMULACRA2 and DSSIM (mean ± spread over photos)",
        when.label(),
        match when {
            When::Before => "JPEG 80, WebP 87, AVIF 74 for every photo, every format offered",
            When::After => "qualities chosen per photo, a format offered only where lighter",
        }
    );
    println!(
        "{:<12} {:<7} {:<5} {:>5} {:>7} | {:>6} {:>6} | {:>13} | {:>17}",
        "photos", "variant", "file", "made", "offered", "bytes", "offrd", "SSIMULACRA2", "DSSIM"
    );
    for alpha in [false, true] {
        let group: Vec<&Photo> = photos.iter().filter(|p| p.alpha == alpha).collect();
        if group.is_empty() {
            continue;
        }
        for name in VariantName::ALL.into_iter().rev() {
            let all: Vec<&Files> = group
                .iter()
                .filter_map(|p| files_of(p, name, when))
                .collect();
            let primary_label = if alpha { "png" } else { "jpeg" };
            let rows: [(&str, Vec<(&File, &File)>); 3] = [
                (
                    primary_label,
                    all.iter().map(|f| (&f.primary, &f.primary)).collect(),
                ),
                ("webp", all.iter().map(|f| (&f.webp, &f.primary)).collect()),
                (
                    "avif",
                    all.iter()
                        .filter_map(|f| Some((f.avif.as_ref()?, &f.primary)))
                        .collect(),
                ),
            ];
            for (label, files) in rows {
                if files.is_empty() {
                    continue;
                }
                let ratios: Vec<f64> = files
                    .iter()
                    .map(|(f, p)| f.bytes as f64 / p.bytes as f64)
                    .collect();
                let offered: Vec<f64> = files
                    .iter()
                    .filter(|(f, _)| f.offered)
                    .map(|(f, p)| f.bytes as f64 / p.bytes as f64)
                    .collect();
                let s2: Vec<f64> = files.iter().map(|(f, _)| f.ssimulacra2).collect();
                let dssim: Vec<f64> = files.iter().map(|(f, _)| f.dssim).collect();
                println!(
                    "{:<12} {:<7} {:<5} {:>5} {:>7} | {:>6.2} {:>6} | {:>6.1} ± {:>4.1} | {:>8.5} ± {:.5}",
                    if alpha { "transparent" } else { "opaque" },
                    name.to_string(),
                    label,
                    files.len(),
                    offered.len(),
                    mean(&ratios),
                    if offered.is_empty() {
                        "-".into()
                    } else {
                        format!("{:.2}", mean(&offered))
                    },
                    mean(&s2),
                    spread(&s2),
                    mean(&dssim),
                    spread(&dssim),
                );
            }
        }
    }
    println!();
}

/// Each photo's `large` WebP and AVIF against the goals, by category.
fn goals(photos: &[Photo]) {
    println!(
        "Per photo (after), large variant: WebP at most {GOAL_WEBP} and AVIF at most {GOAL_AVIF} of the JPEG's bytes, or not offered"
    );
    println!(
        "{:<12} {:>6} | {:>7} {:>10} {:>6} | {:>7} {:>10} {:>6}",
        "category", "photos", "WebP on", "bytes (on)", "goal", "AVIF on", "bytes (on)", "goal"
    );
    let mut categories: BTreeMap<&str, Vec<&Photo>> = BTreeMap::new();
    for photo in photos {
        categories
            .entry(category(&photo.file))
            .or_default()
            .push(photo);
        categories.entry("all").or_default().push(photo);
    }
    let mut missed = Vec::new();
    for (category, group) in &categories {
        let large: Vec<(&Photo, &Files)> = group
            .iter()
            .filter_map(|p| Some((*p, files_of(p, VariantName::Large, When::After)?)))
            .collect();
        let column = |pick: fn(&Files) -> Option<&File>, goal: f64| {
            let offered: Vec<f64> = large
                .iter()
                .filter_map(|(_, f)| {
                    let file = pick(f).filter(|file| file.offered)?;
                    Some(file.bytes as f64 / f.primary.bytes as f64)
                })
                .collect();
            let met = large
                .iter()
                .filter(|(_, f)| {
                    pick(f).is_none_or(|file| {
                        !file.offered || file.bytes as f64 <= goal * f.primary.bytes as f64
                    })
                })
                .count();
            (offered.len(), mean(&offered), met)
        };
        let webp = column(|f| Some(&f.webp), GOAL_WEBP);
        let avif = column(|f| f.avif.as_ref(), GOAL_AVIF);
        println!(
            "{category:<12} {:>6} | {:>7} {:>10.2} {:>6} | {:>7} {:>10.2} {:>6}",
            large.len(),
            webp.0,
            webp.1,
            format!("{}/{}", webp.2, large.len()),
            avif.0,
            avif.1,
            format!("{}/{}", avif.2, large.len()),
        );
        if *category == "all" {
            for (photo, files) in &large {
                let over = |file: Option<&File>, goal: f64| {
                    file.is_some_and(|f| {
                        f.offered && f.bytes as f64 > goal * files.primary.bytes as f64
                    })
                };
                if over(Some(&files.webp), GOAL_WEBP) || over(files.avif.as_ref(), GOAL_AVIF) {
                    missed.push(format!(
                        "{} (WebP {}, AVIF {})",
                        photo.file,
                        ratio(Some(&files.webp), &files.primary),
                        ratio(files.avif.as_ref(), &files.primary)
                    ));
                }
            }
        }
    }
    if !missed.is_empty() {
        println!("offered past the goal: {}", missed.join("; "));
    }
    println!();
}

/// The weight of a gallery page: one `large`, the rest `small`, as served and in JPEG or PNG
/// only, over the mean photo of the corpus.
fn page_weight(photos: &[Photo]) {
    let page = |when: When, pick: fn(&Files) -> &File| {
        let of = |name| {
            let bytes: Vec<f64> = photos
                .iter()
                .filter_map(|p| files_of(p, name, when))
                .map(|f| pick(f).bytes as f64)
                .collect();
            mean(&bytes)
        };
        of(VariantName::Large) + (GALLERY - 1.0) * of(VariantName::Small)
    };
    let kib = |bytes: f64| bytes / 1024.0;
    println!(
        "A gallery page of 20 photos (one large, 19 small), the mean photo of the corpus, in KiB:"
    );
    let before_jpeg = page(When::Before, |f| &f.primary);
    for when in [When::Before, When::After] {
        let served = page(when, served);
        let jpeg = page(when, |f| &f.primary);
        println!(
            "  {:<6}: as served {:>7.1}, JPEG or PNG only {:>7.1}: {:.0}% lighter; against the JPEGs of before ({:.1}) {:.0}% lighter",
            when.label(),
            kib(served),
            kib(jpeg),
            (1.0 - served / jpeg) * 100.0,
            kib(before_jpeg),
            (1.0 - served / before_jpeg) * 100.0,
        );
    }
    println!();
}

fn cpu(photos: &[Photo], vips: &BTreeMap<String, Vips>) {
    let sum = |f: &dyn Fn(&Photo) -> f64| photos.iter().map(f).sum::<f64>();
    let ready = sum(&|p| p.cpu.ready);
    let later = sum(&|p| p.cpu.later);
    let floor_ready = sum(&|p| p.cpu.floor_decode + p.cpu.floor_ready);
    let floor_later = sum(&|p| p.cpu.floor_later);
    let vips_ready = sum(&|p| vips.get(&p.file).map_or(0.0, |v| v.ready));
    let vips_all = sum(&|p| vips.get(&p.file).map_or(0.0, |v| v.all));
    let search = sum(&|p| p.cpu.search_ready + p.cpu.search_later);
    let search_ready = sum(&|p| p.cpu.search_ready);
    let wall = sum(&|p| p.cpu.wall_ready);
    println!("CPU seconds over {} photos (after):", photos.len());
    println!(
        "  to ready (JPEG or PNG, WebP):  ours {ready:.2} (wall {wall:.2}); codecs' floor {floor_ready:.2}, ours {:.1}% above it; libvips {vips_ready:.2}, ours {:.2} of it",
        (ready / floor_ready - 1.0) * 100.0,
        ready / vips_ready
    );
    println!(
        "  with the AVIF:                 ours {:.2}; codecs' floor {:.2}, ours {:.1}% above it; libvips {vips_all:.2}, ours {:.2} of it",
        ready + later,
        floor_ready + floor_later,
        ((ready + later) / (floor_ready + floor_later) - 1.0) * 100.0,
        (ready + later) / vips_all
    );
    println!(
        "  the qualities' search: {search:.2}, {:.1}% of a photo's CPU ({:.1}% of the CPU to ready is the JPEG and WebP search)",
        search / (ready + later) * 100.0,
        search_ready / ready * 100.0
    );
}
