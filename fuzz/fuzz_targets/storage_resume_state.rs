//! The resume state file is read back after crashes, full disks and manual
//! edits: decoding must never panic or over-allocate, and whatever decodes
//! must be exactly what encoding it gives back (the format is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::{PieceSet, ResumeState};

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = ResumeState::decode(data) {
        assert_eq!(state.encode(), data);
    }
    // The same bytes as a bitfield for a torrent of up to 2^16 pieces.
    if let Some((len, bits)) = data.split_first_chunk::<2>() {
        let pieces = usize::from(u16::from_le_bytes(*len));
        if let Ok(set) = PieceSet::from_bytes(bits, pieces) {
            assert_eq!(set.as_bytes(), bits);
            assert_eq!(set.iter().count(), set.count());
        }
    }
});
