//! What each location can still promise of each item, built once per order from its stock rows.

use super::*;

/// Units that can still be promised at each location for each item: on hand - reserved - safety
/// (may be <= 0). Setting a (location, item) again replaces its units.
///
/// Built once per order from the stock rows read for its items, so building is cheap: location
/// and item ids are copied into one buffer each and interned (no allocation per row), and each
/// item's rows are chained so the planner reads only the items it needs.
#[derive(Clone, Default)]
pub struct Availability {
    pub(super) locations: Interner,
    pub(super) items: Interner,
    /// Every `set`, oldest first; a later entry for the same key supersedes an earlier one.
    entries: Vec<Entry>,
    /// Per interned item, its newest entry + 1 (0: none); entries of one item chain via `prev`.
    newest: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Entry {
    item: u32,
    location: u32,
    units: i64,
    /// The item's previous entry + 1 (0: none).
    prev: u32,
}

impl Availability {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the units `location` can promise for `item`, replacing any earlier figure.
    pub fn set(&mut self, location: &LocationId, item: &ItemId, units: i64) {
        // Rows come item by item, so the item is usually the previous entry's.
        let item = match self.entries.last() {
            Some(last) if same_id(self.items.get(last.item as usize), item.as_str()) => last.item as usize,
            _ => self.items.intern(item.as_str()),
        };
        if item == self.newest.len() {
            self.newest.push(0);
        }
        let location = self.locations.intern(location.as_str());
        let index = u32::try_from(self.entries.len() + 1).expect("fewer than 2^32 stock entries");
        let prev = std::mem::replace(&mut self.newest[item], index);
        self.entries.push(Entry { item: item as u32, location: location as u32, units, prev });
    }

    /// Makes room for `entries` more entries, at as many new locations, so filling it with them
    /// does not reallocate.
    pub fn reserve(&mut self, entries: usize) {
        self.entries.reserve(entries);
        self.locations.reserve(entries);
    }

    /// The units set for (`location`, `item`), if any.
    pub fn get(&self, location: &LocationId, item: &ItemId) -> Option<i64> {
        let location = self.locations.find(location.as_str())?;
        let item = self.items.find(item.as_str())?;
        self.of_item(item).find(|&(l, _)| l == location).map(|(_, units)| units)
    }

    /// Every current (location, item, units), in the order they were last set. For inspection:
    /// each entry walks its item's chain.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, i64)> + '_ {
        self.entries.iter().enumerate().filter_map(|(index, entry)| {
            let newest = self.of_item_entries(entry.item as usize).find(|&(_, e)| e.location == entry.location);
            (newest.map(|(at, _)| at) == Some(index)).then(|| {
                (self.locations.get(entry.location as usize), self.items.get(entry.item as usize), entry.units)
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(location, units)` of the interned `item`, newest first (superseded entries included:
    /// the first one seen for a location is its current figure).
    pub(super) fn of_item(&self, item: usize) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.of_item_entries(item).map(|(_, entry)| (entry.location as usize, entry.units))
    }

    fn of_item_entries(&self, item: usize) -> impl Iterator<Item = (usize, &Entry)> + '_ {
        let mut next = self.newest.get(item).copied().unwrap_or(0);
        std::iter::from_fn(move || {
            let at = next.checked_sub(1)? as usize;
            let entry = &self.entries[at];
            next = entry.prev;
            Some((at, entry))
        })
    }
}

impl FromIterator<((LocationId, ItemId), i64)> for Availability {
    fn from_iter<I: IntoIterator<Item = ((LocationId, ItemId), i64)>>(iter: I) -> Self {
        let mut availability = Availability::new();
        for ((location, item), units) in iter {
            availability.set(&location, &item, units);
        }
        availability
    }
}

impl std::fmt::Debug for Availability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(location, item, units)| ((location, item), units))).finish()
    }
}

/// Distinct ids numbered in the order first seen, stored back to back in one string.
#[derive(Clone, Default)]
pub(super) struct Interner {
    text: String,
    /// Where each id ends in `text` (it starts where the previous one ends).
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// Open addressing, linear probing: id number + 1, 0 for empty; a power of two long.
    table: Vec<u32>,
}

impl Interner {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn get(&self, n: usize) -> &str {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.text[start..self.ends[n]]
    }

    pub(super) fn find(&self, id: &str) -> Option<usize> {
        self.find_hashed(id, hash_id(id))
    }

    fn find_hashed(&self, id: &str, hash: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut at = bucket(hash, mask);
        loop {
            let n = self.table[at].checked_sub(1)? as usize;
            if self.hashes[n] == hash && same_id(self.get(n), id) {
                return Some(n);
            }
            at = (at + 1) & mask;
        }
    }

    /// The number of `id`, numbering it if new.
    fn intern(&mut self, id: &str) -> usize {
        let hash = hash_id(id);
        if let Some(n) = self.find_hashed(id, hash) {
            return n;
        }
        let n = self.len();
        if (n + 1) * 2 > self.table.len() {
            self.rebuild((self.table.len() * 2).max(16));
        }
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.hashes.push(hash);
        self.place(n, hash);
        n
    }

    /// Room for `more` ids (of about 8 bytes) without reallocating or rebuilding the table.
    fn reserve(&mut self, more: usize) {
        self.text.reserve(more * 8);
        self.ends.reserve(more);
        self.hashes.reserve(more);
        let size = ((self.len() + more) * 2).next_power_of_two().max(16);
        if size > self.table.len() {
            self.rebuild(size);
        }
    }

    /// A table of `size` slots (a power of two) holding every id.
    fn rebuild(&mut self, size: usize) {
        self.table.clear();
        self.table.resize(size, 0);
        for n in 0..self.len() {
            self.place(n, self.hashes[n]);
        }
    }

    fn place(&mut self, n: usize, hash: u64) {
        let mask = self.table.len() - 1;
        let mut at = bucket(hash, mask);
        while self.table[at] != 0 {
            at = (at + 1) & mask;
        }
        self.table[at] = u32::try_from(n + 1).expect("fewer than 2^32 ids");
    }
}

/// A fast hash of a short id (FxHash-style, 8 bytes per step); not meant to resist crafted keys.
fn hash_id(id: &str) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let step = |hash: u64, word: u64| (hash.rotate_left(26) ^ word).wrapping_mul(K);
    let bytes = id.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let mut hash = step(0, bytes.len() as u64);
    for chunk in &mut chunks {
        hash = step(hash, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Byte by byte: a copy into a buffer would call memcpy, slower for so few bytes.
        let word = rest.iter().rev().fold(0_u64, |word, &byte| (word << 8) | u64::from(byte));
        hash = step(hash, word);
    }
    hash
}

/// `a == b`, without a call to memcmp for ids of up to 16 bytes (most are).
pub(super) fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    let word = |bytes: &[u8]| bytes.iter().rev().fold(0_u64, |word, &byte| (word << 8) | u64::from(byte));
    let split = a.len().min(8);
    word(&a[..split]) == word(&b[..split]) && word(&a[split..]) == word(&b[split..])
}

/// The table position of `hash` (`mask` is the table length - 1): its top bits, the only ones
/// the last multiplication mixes with every byte of the id.
fn bucket(hash: u64, mask: usize) -> usize {
    (hash >> (64 - mask.count_ones())) as usize & mask
}
