//! The size a HEIF file declares, read from its boxes in Rust. The image processor budgets a
//! job's memory from it before the decode, in its own process, where no C parser is to read
//! an upload: libheif reads the file in the decoder process only ([`crate::sandbox`]).
//!
//! HEIF is ISO base media: boxes of a 32-bit size and a four-letter type. The primary item
//! (`meta`/`pitm`) has its properties listed in `meta`/`iprp`/`ipma`, indexes into
//! `meta`/`iprp`/`ipco`, one of which is its image spatial extents (`ispe`): width and height.
//! A grid (how phones store large photos) declares its whole size there too. Every read is
//! bounded by the bytes there are; anything missing gives `None`.

/// The primary image's width and height as its `ispe` declares them.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let meta = boxes(bytes).find(|(kind, _)| kind == b"meta")?.1;
    // A full box: version and flags first.
    let (mut primary, mut properties, mut associations) = (None, None, None);
    for (kind, body) in boxes(meta.get(4..)?) {
        match &kind {
            b"pitm" if body.first() == Some(&0) => primary = Some(u32::from(be16(body, 4)?)),
            b"pitm" => primary = Some(be32(body, 4)?),
            b"iprp" => {
                for (kind, body) in boxes(body) {
                    match &kind {
                        b"ipco" => properties = Some(body),
                        b"ipma" => associations = Some(body),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let properties: Vec<([u8; 4], &[u8])> = boxes(properties?).collect();
    associated(associations?, primary?)?
        .into_iter()
        .filter_map(|index| properties.get(usize::from(index).checked_sub(1)?))
        .find(|(kind, _)| kind == b"ispe")
        .and_then(|(_, ispe)| Some((be32(ispe, 4)?, be32(ispe, 8)?)))
}

/// The boxes in `data`, as their type and body, up to the first that does not fit.
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let (header, size) = match be32(rest, 0)? {
            0 => (8, rest.len() as u64),
            1 => (16, be64(rest, 8)?),
            size => (8, u64::from(size)),
        };
        let size = usize::try_from(size).ok()?;
        let body = rest.get(header..size)?;
        rest = &rest[size..];
        Some((kind, body))
    })
}

/// The 1-based property indexes that `ipma` associates with `item`.
fn associated(ipma: &[u8], item: u32) -> Option<Vec<u16>> {
    let version = *ipma.first()?;
    let wide_indexes = be32(ipma, 0)? & 1 == 1;
    let entries = be32(ipma, 4)?;
    let mut at = 8;
    for _ in 0..entries {
        let id = if version == 0 {
            at += 2;
            u32::from(be16(ipma, at - 2)?)
        } else {
            at += 4;
            be32(ipma, at - 4)?
        };
        let count = *ipma.get(at)?;
        at += 1;
        let mut indexes = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            // The top bit says whether the property is essential.
            let index = if wide_indexes {
                at += 2;
                be16(ipma, at - 2)? & 0x7FFF
            } else {
                at += 1;
                u16::from(*ipma.get(at - 1)? & 0x7F)
            };
            indexes.push(index);
        }
        if id == item {
            return Some(indexes);
        }
    }
    None
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}
