//! Where the newlines of a read are, found 64 bytes at a time.
//!
//! A flood of short lines has a newline every few dozen bytes, and `memchr` called once per
//! line spends most of its time starting up: in a profile of a flood of 58-byte lines it was
//! the pipe reader's largest cost after the read itself. Here each 64 bytes are compared at once
//! into a bit mask of their newlines, whose set bits are then walked: one pass, a few
//! instructions per line. SSE2 does the compares (every x86_64 processor has it); elsewhere
//! `memchr`'s iterator does the work.

/// The positions of the `\n` bytes in `bytes`, in order.
pub fn newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    #[cfg(target_arch = "x86_64")]
    {
        Newlines {
            bytes,
            next: 0,
            mask: 0,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr_iter(b'\n', bytes)
    }
}

/// The newlines of `bytes`, one block of 64 bytes at a time.
#[cfg(target_arch = "x86_64")]
struct Newlines<'a> {
    bytes: &'a [u8],
    /// Where the next block starts; `mask` stands for the 64 bytes before.
    next: usize,
    /// Bit `i` set when byte `next - 64 + i` is a newline not yet returned.
    mask: u64,
}

#[cfg(target_arch = "x86_64")]
impl Iterator for Newlines<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let block = self.bytes.get(self.next..)?;
            if block.is_empty() {
                return None;
            }
            self.next += 64;
            self.mask = match block.first_chunk::<64>() {
                Some(block) => newline_mask(block),
                None => block
                    .iter()
                    .enumerate()
                    .fold(0, |mask, (i, &b)| mask | (u64::from(b == b'\n') << i)),
            };
        }
        let at = self.next - 64 + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit `i` set when `block[i]` is a newline.
#[cfg(target_arch = "x86_64")]
fn newline_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let (quarters, _) = block.as_chunks::<16>();
    let mut mask = 0;
    for (k, quarter) in quarters.iter().enumerate() {
        // SAFETY: SSE2 is part of every x86_64 processor; the load reads the 16 bytes of
        // `quarter` and needs no alignment.
        let found = unsafe {
            let bytes = _mm_loadu_si128(quarter.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\n' as i8)))
        };
        // The low 16 bits hold one bit per byte.
        mask |= u64::from(found as u16) << (16 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_newline_is_found_in_order_wherever_it_is() {
        // Every length around the block size, a newline at every position and at every pair.
        for len in 0..140 {
            for at in 0..len {
                let mut bytes = vec![b'x'; len];
                bytes[at] = b'\n';
                assert_eq!(newlines(&bytes).collect::<Vec<_>>(), vec![at], "len {len}");
                for second in at + 1..len.min(at + 70) {
                    bytes[second] = b'\n';
                    assert_eq!(
                        newlines(&bytes).collect::<Vec<_>>(),
                        vec![at, second],
                        "len {len}"
                    );
                    bytes[second] = b'x';
                }
            }
        }
    }

    #[test]
    fn a_stream_of_lines_gives_what_memchr_gives() {
        let mut bytes = Vec::new();
        let mut seed = 7u32;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 16) as usize % 150;
            bytes.extend((0..len).map(|i| b' ' + (i % 90) as u8));
            bytes.push(b'\n');
        }
        bytes.extend_from_slice("é\r\n\n\u{1F600}".as_bytes());
        let expected: Vec<usize> = memchr::memchr_iter(b'\n', &bytes).collect();
        for start in 0..64 {
            let got: Vec<usize> = newlines(&bytes[start..]).map(|at| at + start).collect();
            let want: Vec<usize> = expected.iter().copied().filter(|&at| at >= start).collect();
            assert_eq!(got, want, "from byte {start}");
        }
    }
}
