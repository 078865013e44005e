//! A tiny deterministic PRNG (xorshift64*) for tie-breaking; not for secrets.

/// xorshift64* generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator; a zero seed is replaced by a fixed odd constant.
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-enough value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; bias is negligible for our n.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

impl Rng {
    /// The index in `0..n` with the smallest key, ties broken uniformly at
    /// random; `key` returns `None` for indices that are not candidates. The
    /// scan starts at a random index, so even equal keys cost one pass.
    pub fn random_min_by_key<K: Ord>(
        &mut self,
        n: usize,
        mut key: impl FnMut(usize) -> Option<K>,
    ) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let start = self.below(n as u64) as usize;
        let mut best: Option<(K, usize)> = None;
        let mut ties = 0u64;
        for i in (start..n).chain(0..start) {
            let Some(key) = key(i) else { continue };
            match &best {
                Some((b, _)) if key > *b => {}
                Some((b, _)) if key == *b => {
                    ties += 1;
                    if self.below(ties + 1) == 0 {
                        best = Some((key, i));
                    }
                }
                _ => {
                    best = Some((key, i));
                    ties = 0;
                }
            }
        }
        best.map(|(_, i)| i)
    }
}
