//! A streaming reader (and a minimal writer) for the OpenStreetMap PBF format.
//!
//! The file is a sequence of length-prefixed `BlobHeader` + `Blob` pairs; each `OSMData` blob
//! holds one zlib-compressed `PrimitiveBlock`. Only one block is in memory at a time, and the
//! format's own limits (64 KiB headers, 32 MiB blobs) are enforced before anything is allocated,
//! so a 2 GB extract is read in bounded memory and a non-PBF file fails on its first bytes.
//! Every read is bounds-checked: malformed input gives [`WalknetError::Pbf`], never a panic.

use std::io::{ErrorKind, Read, Write};

use crate::WalknetError;

const MAX_HEADER: usize = 64 * 1024;
const MAX_BLOB: usize = 32 * 1024 * 1024;

/// Features a reader must understand; anything else in `required_features` is refused.
const KNOWN_FEATURES: [&str; 2] = ["OsmSchema-V0.6", "DenseNodes"];

fn bad(offset: u64, reason: impl Into<String>) -> WalknetError {
    WalknetError::Pbf { offset, reason: reason.into() }
}

/// A protobuf wire value.
#[derive(Clone, Copy)]
enum Val<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// A cursor over one protobuf message.
struct Msg<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Msg<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Msg { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else { return Err("varint runs past the end") };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint too long");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    fn next(&mut self) -> Result<Option<(u32, Val<'a>)>, &'static str> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        let val = match key & 7 {
            0 => Val::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                let end = self.pos.checked_add(len).ok_or("length out of range")?;
                let bytes = self.buf.get(self.pos..end).ok_or("field runs past the end")?;
                self.pos = end;
                Val::Bytes(bytes)
            }
            5 => self.skip(4)?,
            _ => return Err("unsupported wire type"),
        };
        Ok(Some((field, val)))
    }

    fn skip(&mut self, n: usize) -> Result<Val<'a>, &'static str> {
        if self.pos + n > self.buf.len() {
            return Err("fixed field runs past the end");
        }
        self.pos += n;
        Ok(Val::Fixed)
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends the values of a repeated scalar field, packed (the norm) or not.
fn push_varints(val: Val<'_>, out: &mut Vec<u64>) -> Result<(), &'static str> {
    match val {
        Val::Varint(v) => out.push(v),
        Val::Bytes(b) => {
            let mut m = Msg::new(b);
            while m.pos < b.len() {
                out.push(m.varint()?);
            }
        }
        Val::Fixed => return Err("unexpected fixed-width value"),
    }
    Ok(())
}

fn bytes(val: Val<'_>) -> Result<&[u8], &'static str> {
    match val {
        Val::Bytes(b) => Ok(b),
        _ => Err("expected a length-delimited field"),
    }
}

fn varint(val: Val<'_>) -> Result<u64, &'static str> {
    match val {
        Val::Varint(v) => Ok(v),
        _ => Err("expected a varint field"),
    }
}

/// One OSM way as read from a block: its id, node references and tags.
pub struct WayRef<'a> {
    pub id: i64,
    pub refs: &'a [i64],
    pub tags: &'a [(&'a str, &'a str)],
}

/// What a block visitor wants to see; skipping nodes or ways saves the decoding work.
pub trait Visitor {
    fn wants_nodes(&self) -> bool;
    fn wants_ways(&self) -> bool;
    /// A node: id, latitude and longitude in degrees.
    fn node(&mut self, id: i64, lat: f64, lon: f64);
    fn way(&mut self, way: &WayRef<'_>);
}

/// Counts of what a pass read, for the build report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassCounts {
    pub blocks: u64,
    pub nodes: u64,
    pub ways: u64,
    pub relations: u64,
    pub bytes: u64,
}

/// Reads a whole PBF stream, calling `visitor` for every node and way.
pub fn read<R: Read, V: Visitor>(mut input: R, visitor: &mut V) -> Result<PassCounts, WalknetError> {
    let mut counts = PassCounts::default();
    let mut offset: u64 = 0;
    let mut header_buf = Vec::new();
    let mut blob_buf = Vec::new();
    let mut raw = Vec::new();
    let mut scratch = Scratch::default();
    let mut seen_header = false;
    loop {
        let mut len4 = [0u8; 4];
        match read_full(&mut input, &mut len4)? {
            0 => break,
            4 => {}
            _ => return Err(bad(offset, "file is truncated inside a block length")),
        }
        let hlen = u32::from_be_bytes(len4) as usize;
        if hlen == 0 || hlen > MAX_HEADER {
            return Err(bad(offset, format!("block header length {hlen} is not plausible; not an OSM PBF file?")));
        }
        offset += 4;
        header_buf.resize(hlen, 0);
        if read_full(&mut input, &mut header_buf)? != hlen {
            return Err(bad(offset, "file is truncated inside a block header"));
        }
        let (kind, datasize) = parse_blob_header(&header_buf).map_err(|r| bad(offset, r))?;
        offset += hlen as u64;
        if datasize > MAX_BLOB {
            return Err(bad(offset, format!("blob of {datasize} bytes exceeds the 32 MiB limit")));
        }
        blob_buf.resize(datasize, 0);
        if read_full(&mut input, &mut blob_buf)? != datasize {
            return Err(bad(offset, "file is truncated inside a data blob"));
        }
        unpack_blob(&blob_buf, &mut raw).map_err(|r| bad(offset, r))?;
        match kind.as_str() {
            "OSMHeader" => {
                check_header_block(&raw).map_err(|r| match r {
                    HeaderProblem::Feature(f) => WalknetError::UnsupportedFeature(f),
                    HeaderProblem::Wire(r) => bad(offset, r),
                })?;
                seen_header = true;
            }
            "OSMData" => {
                if !seen_header {
                    return Err(bad(offset, "data block before the OSMHeader block"));
                }
                decode_block(&raw, visitor, &mut counts, &mut scratch).map_err(|r| bad(offset, r))?;
                counts.blocks += 1;
            }
            // Unknown blob types are skipped, as the format asks.
            _ => {}
        }
        offset += datasize as u64;
    }
    if !seen_header {
        return Err(bad(offset, "no OSMHeader block; the file is empty or not an OSM PBF file"));
    }
    counts.bytes = offset;
    Ok(counts)
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize, WalknetError> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(WalknetError::Io(e)),
        }
    }
    Ok(n)
}

fn parse_blob_header(buf: &[u8]) -> Result<(String, usize), &'static str> {
    let mut m = Msg::new(buf);
    let mut kind = None;
    let mut size = None;
    while let Some((f, v)) = m.next()? {
        match f {
            1 => kind = Some(std::str::from_utf8(bytes(v)?).map_err(|_| "block type is not UTF-8")?.to_owned()),
            3 => size = Some(usize::try_from(varint(v)?).map_err(|_| "blob size out of range")?),
            _ => {}
        }
    }
    match (kind, size) {
        (Some(k), Some(s)) => Ok((k, s)),
        _ => Err("block header lacks its type or size; not an OSM PBF file?"),
    }
}

fn unpack_blob(buf: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut m = Msg::new(buf);
    let mut raw_size = None;
    let mut data = None;
    while let Some((f, v)) = m.next()? {
        match f {
            1 => data = Some((false, bytes(v)?)),
            2 => raw_size = Some(usize::try_from(varint(v)?).map_err(|_| "raw size out of range")?),
            3 => data = Some((true, bytes(v)?)),
            4..=7 => return Err("blob uses a compression other than zlib (lzma, bzip2, lz4, zstd)"),
            _ => {}
        }
    }
    out.clear();
    match data {
        Some((false, raw)) => {
            if raw.len() > MAX_BLOB {
                return Err("raw blob exceeds the 32 MiB limit");
            }
            out.extend_from_slice(raw);
        }
        Some((true, z)) => {
            let expected = raw_size.ok_or("zlib blob without raw_size")?;
            if expected > MAX_BLOB {
                return Err("blob would inflate past the 32 MiB limit");
            }
            out.reserve(expected);
            let dec = flate2::read::ZlibDecoder::new(z);
            dec.take(expected as u64 + 1).read_to_end(out).map_err(|_| "zlib data is corrupt or truncated")?;
            if out.len() != expected {
                return Err("zlib data does not inflate to raw_size");
            }
        }
        None => return Err("blob holds no data"),
    }
    Ok(())
}

enum HeaderProblem {
    Feature(String),
    Wire(&'static str),
}

fn check_header_block(buf: &[u8]) -> Result<(), HeaderProblem> {
    let mut m = Msg::new(buf);
    while let Some((f, v)) = m.next().map_err(HeaderProblem::Wire)? {
        if f == 4 {
            let b = bytes(v).map_err(HeaderProblem::Wire)?;
            let s = String::from_utf8_lossy(b).into_owned();
            if !KNOWN_FEATURES.contains(&s.as_str()) {
                return Err(HeaderProblem::Feature(s));
            }
        }
    }
    Ok(())
}

/// Buffers reused across blocks.
#[derive(Default)]
struct Scratch {
    a: Vec<u64>,
    b: Vec<u64>,
    c: Vec<u64>,
    refs: Vec<i64>,
}

fn decode_block<V: Visitor>(buf: &[u8], visitor: &mut V, counts: &mut PassCounts, scratch: &mut Scratch) -> Result<(), &'static str> {
    let mut strings: Vec<&str> = Vec::new();
    let mut groups: Vec<&[u8]> = Vec::new();
    let mut granularity: i64 = 100;
    let mut lat_off: i64 = 0;
    let mut lon_off: i64 = 0;
    let mut m = Msg::new(buf);
    while let Some((f, v)) = m.next()? {
        match f {
            1 => {
                let mut st = Msg::new(bytes(v)?);
                while let Some((sf, sv)) = st.next()? {
                    if sf == 1 {
                        // Non-UTF-8 strings cannot match any tag we look for; keep the index valid.
                        strings.push(std::str::from_utf8(bytes(sv)?).unwrap_or(""));
                    }
                }
            }
            2 => groups.push(bytes(v)?),
            17 => granularity = varint(v)? as i64,
            19 => lat_off = varint(v)? as i64,
            20 => lon_off = varint(v)? as i64,
            _ => {}
        }
    }
    let coord = |off: i64, raw: i64| -> f64 { 1e-9 * (off as f64 + granularity as f64 * raw as f64) };
    let string = |i: u64| -> Result<&str, &'static str> {
        strings.get(usize::try_from(i).map_err(|_| "string index out of range")?).copied().ok_or("string index out of range")
    };
    let mut tags: Vec<(&str, &str)> = Vec::new();
    for g in groups {
        let mut gm = Msg::new(g);
        while let Some((f, v)) = gm.next()? {
            match f {
                1 => {
                    counts.nodes += 1;
                    if visitor.wants_nodes() {
                        let (id, lat, lon) = plain_node(bytes(v)?)?;
                        visitor.node(id, coord(lat_off, lat), coord(lon_off, lon));
                    }
                }
                2 => {
                    let dense = bytes(v)?;
                    let (ids, lats, lons) = (&mut scratch.a, &mut scratch.b, &mut scratch.c);
                    ids.clear();
                    lats.clear();
                    lons.clear();
                    let mut dm = Msg::new(dense);
                    while let Some((df, dv)) = dm.next()? {
                        match df {
                            1 => push_varints(dv, ids)?,
                            8 => push_varints(dv, lats)?,
                            9 => push_varints(dv, lons)?,
                            _ => {}
                        }
                    }
                    if ids.len() != lats.len() || ids.len() != lons.len() {
                        return Err("dense nodes have unequal id, lat and lon lists");
                    }
                    counts.nodes += ids.len() as u64;
                    if visitor.wants_nodes() {
                        let (mut id, mut lat, mut lon) = (0i64, 0i64, 0i64);
                        for i in 0..ids.len() {
                            id = id.wrapping_add(zigzag(ids[i]));
                            lat = lat.wrapping_add(zigzag(lats[i]));
                            lon = lon.wrapping_add(zigzag(lons[i]));
                            visitor.node(id, coord(lat_off, lat), coord(lon_off, lon));
                        }
                    }
                }
                3 => {
                    counts.ways += 1;
                    if !visitor.wants_ways() {
                        continue;
                    }
                    let (keys, vals, refs) = (&mut scratch.a, &mut scratch.b, &mut scratch.c);
                    keys.clear();
                    vals.clear();
                    refs.clear();
                    let mut id = 0i64;
                    let mut wm = Msg::new(bytes(v)?);
                    while let Some((wf, wv)) = wm.next()? {
                        match wf {
                            1 => id = varint(wv)? as i64,
                            2 => push_varints(wv, keys)?,
                            3 => push_varints(wv, vals)?,
                            8 => push_varints(wv, refs)?,
                            _ => {}
                        }
                    }
                    if keys.len() != vals.len() {
                        return Err("way has unequal key and value lists");
                    }
                    tags.clear();
                    for (k, v) in keys.iter().zip(vals.iter()) {
                        tags.push((string(*k)?, string(*v)?));
                    }
                    scratch.refs.clear();
                    let mut r = 0i64;
                    for d in refs.iter() {
                        r = r.wrapping_add(zigzag(*d));
                        scratch.refs.push(r);
                    }
                    visitor.way(&WayRef { id, refs: &scratch.refs, tags: &tags });
                }
                4 => counts.relations += 1,
                _ => {}
            }
        }
    }
    Ok(())
}

fn plain_node(buf: &[u8]) -> Result<(i64, i64, i64), &'static str> {
    let mut m = Msg::new(buf);
    let (mut id, mut lat, mut lon) = (0, 0, 0);
    while let Some((f, v)) = m.next()? {
        match f {
            1 => id = zigzag(varint(v)?),
            8 => lat = zigzag(varint(v)?),
            9 => lon = zigzag(varint(v)?),
            _ => {}
        }
    }
    Ok((id, lat, lon))
}

// ---------------------------------------------------------------------------------------------
// Writer

/// A way for [`write()`]: id, node ids in order, tags.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedWay {
    pub id: i64,
    pub refs: Vec<i64>,
    pub tags: Vec<(String, String)>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, 0);
    put_varint(out, v);
}

fn zz(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn packed(values: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut b = Vec::new();
    for v in values {
        put_varint(&mut b, v);
    }
    b
}

fn delta(values: &[i64]) -> impl Iterator<Item = u64> + '_ {
    let mut prev = 0i64;
    values.iter().map(move |&v| {
        let d = v.wrapping_sub(prev);
        prev = v;
        zz(d)
    })
}

fn write_blob<W: Write>(out: &mut W, kind: &str, raw: &[u8], compress: bool) -> std::io::Result<()> {
    let mut blob = Vec::new();
    if compress {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(raw)?;
        let z = enc.finish()?;
        put_uint(&mut blob, 2, raw.len() as u64);
        put_bytes(&mut blob, 3, &z);
    } else {
        put_bytes(&mut blob, 1, raw);
    }
    let mut header = Vec::new();
    put_bytes(&mut header, 1, kind.as_bytes());
    put_uint(&mut header, 3, blob.len() as u64);
    out.write_all(&(header.len() as u32).to_be_bytes())?;
    out.write_all(&header)?;
    out.write_all(&blob)
}

/// Writes a minimal but valid OSM PBF: one header block, then dense nodes and ways in blocks of
/// at most 8,000 elements. Nodes are `(id, lat, lon)` in degrees, stored at the default 100 nd
/// granularity (about 1 cm). Used by tests and to publish synthetic networks that any OSM tool
/// can read.
pub fn write<W: Write>(out: W, nodes: &[(i64, f64, f64)], ways: &[OwnedWay], compress: bool) -> std::io::Result<()> {
    let mut w = Writer::new(out, compress)?;
    w.nodes(nodes)?;
    w.ways(ways)
}

/// Entities per block, as osmium writes them.
const CHUNK: usize = 8000;

/// Writes a PBF file block by block, so a caller can stream more entities than it holds (all
/// nodes first, then the ways, as readers expect).
pub struct Writer<W: Write> {
    out: W,
    compress: bool,
}

impl<W: Write> Writer<W> {
    /// Starts the file with its header block.
    pub fn new(mut out: W, compress: bool) -> std::io::Result<Self> {
        let mut hb = Vec::new();
        for f in KNOWN_FEATURES {
            put_bytes(&mut hb, 4, f.as_bytes());
        }
        put_bytes(&mut hb, 16, b"walknet");
        write_blob(&mut out, "OSMHeader", &hb, compress)?;
        Ok(Self { out, compress })
    }

    /// Appends nodes as (id, lat, lon), in blocks of dense nodes.
    pub fn nodes(&mut self, nodes: &[(i64, f64, f64)]) -> std::io::Result<()> {
        let (out, compress) = (&mut self.out, self.compress);
        for chunk in nodes.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|n| n.0).collect();
            let lats: Vec<i64> = chunk.iter().map(|n| (n.1 * 1e7).round() as i64).collect();
            let lons: Vec<i64> = chunk.iter().map(|n| (n.2 * 1e7).round() as i64).collect();
            let mut dense = Vec::new();
            put_bytes(&mut dense, 1, &packed(delta(&ids)));
            put_bytes(&mut dense, 8, &packed(delta(&lats)));
            put_bytes(&mut dense, 9, &packed(delta(&lons)));
            let mut group = Vec::new();
            put_bytes(&mut group, 2, &dense);
            let mut block = Vec::new();
            put_bytes(&mut block, 1, &[]);
            put_bytes(&mut block, 2, &group);
            write_blob(out, "OSMData", &block, compress)?;
        }
        Ok(())
    }

    /// Appends ways, each block with its own string table.
    pub fn ways(&mut self, ways: &[OwnedWay]) -> std::io::Result<()> {
        let (out, compress) = (&mut self.out, self.compress);
        for chunk in ways.chunks(CHUNK) {
            let mut strings: Vec<&str> = vec![""];
            let mut index = std::collections::HashMap::new();
            let mut group = Vec::new();
            for w in chunk {
                let mut keys = Vec::new();
                let mut vals = Vec::new();
                for (k, v) in &w.tags {
                    for s in [k.as_str(), v.as_str()] {
                        if !index.contains_key(s) {
                            index.insert(s, strings.len() as u64);
                            strings.push(s);
                        }
                    }
                    keys.push(index[k.as_str()]);
                    vals.push(index[v.as_str()]);
                }
                let mut way = Vec::new();
                put_uint(&mut way, 1, w.id as u64);
                put_bytes(&mut way, 2, &packed(keys.into_iter()));
                put_bytes(&mut way, 3, &packed(vals.into_iter()));
                put_bytes(&mut way, 8, &packed(delta(&w.refs)));
                put_bytes(&mut group, 3, &way);
            }
            let mut st = Vec::new();
            for s in &strings {
                put_bytes(&mut st, 1, s.as_bytes());
            }
            let mut block = Vec::new();
            put_bytes(&mut block, 1, &st);
            put_bytes(&mut block, 2, &group);
            write_blob(out, "OSMData", &block, compress)?;
        }
        out.flush()
    }
}
